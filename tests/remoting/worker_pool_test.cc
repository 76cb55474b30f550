#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "runtime/worker_pool.h"

using namespace mq;

TEST_CASE("strand tasks run in order, one at a time, and completions come back to the loop") {
  EventLoop loop;
  {
    WorkerPool pool(loop, 3);
    auto strand = pool.make_strand();
    std::vector<int> order;
    std::atomic<int> concurrent{0};
    bool overlap = false;
    int completions = 0;
    for (int i = 0; i < 200; ++i) {
      strand->submit(
          [&, i] {
            if (concurrent.fetch_add(1) != 0) overlap = true;
            order.push_back(i);
            concurrent.fetch_sub(1);
          },
          [&] {
            CHECK(loop.in_loop_thread());
            ++completions;
          });
    }
    pool.drain();
    loop.run_until([&] { return completions == 200; });
    CHECK_FALSE(overlap);
    REQUIRE(order.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(order[static_cast<size_t>(i)] == i);
    CHECK(pool.thread_count() == 3);
  }
  loop.close_and_drain();
}

TEST_CASE("posts from many threads all run on the loop, each thread's in its own order") {
  EventLoop loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<int>> seen(kThreads);
  int ran = 0;
  bool off_loop = false;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t)
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        loop.post([&, t, i] {
          if (!loop.in_loop_thread()) off_loop = true;
          seen[static_cast<size_t>(t)].push_back(i);
          ++ran;
        });
    });
  // A timer keeps the loop alive while the posters run (posting alone holds no handle).
  Timer keepalive(loop);
  keepalive.start(1, 1, [] {});
  loop.run_until([&] { return ran == kThreads * kPerThread; });
  for (auto& p : posters) p.join();
  keepalive.stop();
  CHECK_FALSE(off_loop);
  for (auto& s : seen) {
    REQUIRE(s.size() == static_cast<size_t>(kPerThread));
    bool in_order = true;
    for (int i = 0; i < kPerThread; ++i) in_order = in_order && s[static_cast<size_t>(i)] == i;
    CHECK(in_order);
  }
}

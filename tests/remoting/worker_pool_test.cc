#include <doctest/doctest.h>

#include <atomic>
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

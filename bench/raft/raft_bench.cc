// raft_bench: how many proposals per second the Raft core commits when nothing else costs
// anything: 3 nodes in one thread, a zero-delay lossless in-memory network, persistence that
// returns at once, applied entries released from memory (compact()) as the glue would. It shows the core is not the bottleneck of a DLedger broker (disk and network
// are).
//
//   raft_bench [--entries N] [--body BYTES] [--batch K] [--push-entries P] [--inflight W]
//
// The client proposes batches of K entries (propose_batch) whenever fewer than 10000 are
// uncommitted; the leader pushes up to P entries per message with W pushes in flight per follower.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "raft/node.h"

using namespace mq;
using namespace mq::raft;

int main(int argc, char** argv) {
  int64_t target = 2'000'000;
  size_t body = 128, batch = 64, push_entries = 256, inflight = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (a == "--entries") target = v;
    else if (a == "--body") body = static_cast<size_t>(v);
    else if (a == "--batch") batch = static_cast<size_t>(v);
    else if (a == "--push-entries") push_entries = static_cast<size_t>(v);
    else if (a == "--inflight") inflight = static_cast<size_t>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::vector<Node> nodes;
  nodes.reserve(3);
  for (NodeId id = 0; id < 3; ++id) {
    NodeConfig c;
    c.id = id;
    c.bootstrap.voters = {0, 1, 2};
    c.seed = 1;
    c.max_push_entries = push_entries;
    c.max_inflight_pushes = inflight;
    c.max_push_bytes = 4 << 20;
    nodes.emplace_back(c);
  }
  std::deque<Message> net;
  int64_t applied_on_leader = 0, persisted_entries = 0;
  auto process = [&](Node& n) {
    while (n.has_ready()) {
      Ready rd = n.ready();
      persisted_entries += static_cast<int64_t>(rd.entries.size());
      for (Message& m : rd.messages) net.push_back(std::move(m));
      if (n.id() == 0) applied_on_leader += static_cast<int64_t>(rd.committed.size());
      n.advance(rd);
      // Keep memory bounded as the broker glue would: release applied entries (a follower that
      // needs them again gets them through LogFetch; none does here).
      n.compact(RaftIndex{n.applied_index().value - 4096});
    }
  };
  auto deliver = [&] {
    while (!net.empty()) {
      Message m = std::move(net.front());
      net.pop_front();
      nodes[m.to].step(m);
      process(nodes[m.to]);
    }
  };
  nodes[0].campaign();
  process(nodes[0]);
  deliver();
  if (nodes[0].role() != Role::kLeader) {
    std::fprintf(stderr, "no leader\n");
    return 1;
  }
  const std::string payload(body, 'x');
  const RaftIndex start = nodes[0].commit_index();
  auto t0 = std::chrono::steady_clock::now();
  int64_t loops = 0;
  while (nodes[0].commit_index().value - start.value < target) {
    Node& l = nodes[0];
    while (static_cast<size_t>(l.last_index().value - l.commit_index().value) + batch <= 10000) {
      std::vector<std::string> v(batch, payload);
      if (!l.propose_batch(std::move(v)).ok()) break;
    }
    process(l);
    deliver();
    if (++loops % 64 == 0) {
      for (Node& n : nodes) {
        n.tick();
        process(n);
      }
      deliver();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t committed = nodes[0].commit_index().value - start.value;
  std::printf("raft_bench --entries %lld --body %zu --batch %zu --push-entries %zu --inflight %zu\n",
              static_cast<long long>(target), body, batch, push_entries, inflight);
  std::printf("3 nodes, zero-delay in-memory network, no-op persistence: %lld proposals committed in "
              "%.2f s = %.0f proposals/s (%.1f MB/s of bodies)\n",
              static_cast<long long>(committed), secs, committed / secs, committed * body / secs / 1e6);
  (void)applied_on_leader;
  (void)persisted_entries;
  return 0;
}

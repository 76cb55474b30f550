// A few hundred seeds of the randomized simulation (raft/sim.h) on every test run; the large
// sweeps are run with tools/raft_sim. A failure names the seed and the replay command.
#include <doctest/doctest.h>

#include "raft/sim.h"

using namespace mq::raft;

namespace {
void sweep(uint64_t first, uint64_t count, int voters) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    sim::SimOptions o;
    o.seed = seed;
    o.voters = voters;
    auto r = sim::run_simulation(o);
    INFO("seed " << seed << ": " << r.violation << "\n  replay: raft_sim --seed " << seed
                 << " --voters " << voters << " --verbose");
    REQUIRE(r.ok);
    CHECK(r.committed > 0);
  }
}
}  // namespace

TEST_CASE("Simulation: 3 voters, 200 seeds, every invariant after every step, liveness after heal") {
  sweep(1'000'000, 200, 3);
}

TEST_CASE("Simulation: 5 voters, 200 seeds, every invariant after every step, liveness after heal") {
  sweep(2'000'000, 200, 5);
}

TEST_CASE("Simulation: the same seed replays identically") {
  sim::SimOptions o;
  o.seed = 77;
  auto a = sim::run_simulation(o);
  auto b = sim::run_simulation(o);
  CHECK(a.ok);
  CHECK(a.ticks == b.ticks);
  CHECK(a.committed == b.committed);
  CHECK(a.stats.messages_delivered == b.stats.messages_delivered);
}

// raft_sim: runs the deterministic Raft simulation (raft/sim.h).
//
//   raft_sim --seeds 1..100000        sweep; prints "N seeds, 0 violations" (exit 1 on any)
//   raft_sim --seed 1234 --verbose    replay one seed with every event and message
//   options: --voters 3|5 (default: from the seed), --chaos-ticks N, --quiet
//
// A failing seed prints itself and the command that replays it. A broken MQ_CHECK inside the core
// aborts the process; the SIGABRT handler still prints the seed being run.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#include "raft/sim.h"

namespace {

volatile uint64_t g_current_seed = 0;
volatile int g_voters = 0;

void on_abort(int) {
  char buf[160];
  int n = std::snprintf(buf, sizeof buf,
                        "seed %llu: ABORTED (failed check)\n  replay: raft_sim --seed %llu%s --verbose\n",
                        static_cast<unsigned long long>(g_current_seed),
                        static_cast<unsigned long long>(g_current_seed),
                        g_voters == 3 ? " --voters 3" : g_voters == 5 ? " --voters 5" : "");
  if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

void usage() {
  std::fprintf(stderr,
               "usage: raft_sim --seeds A..B | --seed N [--verbose] [--voters 3|5] [--chaos-ticks N] [--quiet]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t first = 1, last = 100;
  bool verbose = false, quiet = false;
  int voters = 0, chaos = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--seeds") {
      std::string v = value();
      auto dots = v.find("..");
      if (dots == std::string::npos) usage();
      first = std::stoull(v.substr(0, dots));
      last = std::stoull(v.substr(dots + 2));
    } else if (a == "--seed") {
      first = last = std::stoull(value());
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--voters") {
      voters = std::stoi(value());
    } else if (a == "--chaos-ticks") {
      chaos = std::stoi(value());
    } else {
      usage();
    }
  }
  if (last < first) usage();
  std::signal(SIGABRT, on_abort);
  g_voters = voters;

  const auto start = std::chrono::steady_clock::now();
  uint64_t violations = 0, seeds = 0, committed = 0, elections = 0, crashes = 0, fetches = 0;
  for (uint64_t seed = first; seed <= last; ++seed) {
    g_current_seed = seed;
    mq::raft::sim::SimOptions o;
    o.seed = seed;
    o.voters = voters;
    o.chaos_ticks = chaos;
    o.verbose = verbose;
    auto r = mq::raft::sim::run_simulation(o);
    ++seeds;
    committed += static_cast<uint64_t>(r.committed);
    elections += r.stats.leaders_elected;
    crashes += r.stats.crashes;
    fetches += r.stats.fetches;
    if (!r.ok) {
      ++violations;
      std::printf("seed %llu (%d voters): VIOLATION %s\n  replay: raft_sim --seed %llu --verbose\n",
                  static_cast<unsigned long long>(seed), r.voters, r.violation.c_str(),
                  static_cast<unsigned long long>(seed));
      std::fflush(stdout);
    } else if (first == last || (!quiet && seeds % 10000 == 0)) {
      std::printf("seed %llu (%d voters): ok, %lld ticks, %lld committed, %llu leaders, %llu crashes, %llu msgs\n",
                  static_cast<unsigned long long>(seed), r.voters, static_cast<long long>(r.ticks),
                  static_cast<long long>(r.committed),
                  static_cast<unsigned long long>(r.stats.leaders_elected),
                  static_cast<unsigned long long>(r.stats.crashes),
                  static_cast<unsigned long long>(r.stats.messages_delivered));
      std::fflush(stdout);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds, %llu violations (%llu entries committed, %llu leaders elected, %llu crashes, "
              "%llu log fetches; %.1f s)\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(violations),
              static_cast<unsigned long long>(committed), static_cast<unsigned long long>(elections),
              static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(fetches), secs);
  return violations ? 1 : 0;
}

// mqfault: the project's fault harness (issue 14). Makes hosts (network namespaces on a bridge,
// netns.h), deploys a NameServer and a container on each (deployment.h), runs the workload
// (workload.h) from the harness's own namespace, injects a fault every --fault-interval seconds
// chosen at random from a seed the report prints, heals, drains every queue and judges the history
// (checker.h). Needs root; exits 77 (ctest's skip code) with the reason where the kernel refuses.
//
//   mqfault --layout dledger3 --duration 1800 --fault-interval 30 [--seed N] [--faults a,b,...]
//   mqfault --layout masterslave2 --duration 120 --fault-interval 15
//   mqfault ... --sabotage drop-drained|wipe-group   (self-tests: the report must show losses)
//
// Exit: 0 the history holds (no lost, moved or order violation); 1 it does not, or the run broke;
// 2 usage; 77 skipped. With --sabotage the meaning is inverted: 0 when the checker saw the losses
// the sabotage made, 1 when it did not (a checker that cannot see a lost message is a defect).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/checker.h"
#include "tests/fault/deployment.h"
#include "tests/fault/history.h"
#include "tests/fault/netns.h"
#include "tests/fault/workload.h"

using namespace mq;
using namespace mq::fault;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

struct Options {
  Layout layout = Layout::kDLedger3;
  int duration_s = 120;
  int fault_interval_s = 30;
  int hold_s = -1;  // default: min(interval / 2, 10)
  uint64_t seed = 0;
  bool seed_given = false;
  std::vector<std::string> faults;  // empty: every fault the layout and the kernel allow
  std::string dir;
  bool keep = false;
  std::string sabotage;  // "", "drop-drained", "wipe-group"
  int queues = 4;
  int64_t send_interval_ms = 0;
  std::string report_json;
};

void usage() {
  std::fprintf(stderr,
               "usage: mqfault [--layout dledger3|masterslave2] [--duration s] [--fault-interval s] [--hold s]\n"
               "               [--seed n] [--faults kind,kind,...] [--dir path] [--keep] [--queues n]\n"
               "               [--send-interval-ms n] [--report-json path] [--sabotage drop-drained|wipe-group]\n"
               "fault kinds: kill9 kill9-leader kill9-host stop stop-leader isolate isolate-leader bridge halves\n"
               "             clock-forward clock-back (a host's wall clock steps an hour and back; libmqclockshift.so)\n"
               "             disk-full (a host's disk, a loop-mounted image, fills up; freed at the heal)\n"
               "             loss delay reorder (what one host sends: 15 %% lost / 150+-50 ms late / 10+-10 ms late,\n"
               "             a quarter at once; mqfault-netem, needs iptables-legacy)\n");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(sep, i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string now_text() {
  time_t t = time(nullptr);
  char buf[32];
  strftime(buf, sizeof buf, "%H:%M:%S", localtime(&t));
  return buf;
}

#define SAY(...)                                   \
  do {                                             \
    std::printf("[%s] ", now_text().c_str());      \
    std::printf(__VA_ARGS__);                      \
    std::printf("\n");                             \
    std::fflush(stdout);                           \
  } while (0)

std::string leaders_text(const std::vector<std::vector<std::string>>& per_host) {
  std::string out;
  for (size_t h = 0; h < per_host.size(); ++h) {
    out += (h ? " " : "") + std::string("h") + std::to_string(h) + "[";
    for (size_t i = 0; i < per_host[h].size(); ++i) out += (i ? "," : "") + per_host[h][i];
    out += "]";
  }
  return out;
}

nlohmann::json leaders_json(const std::vector<std::vector<std::string>>& per_host) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& l : per_host) j.push_back(l);
  return j;
}

// A fault in place, with what undoes it.
struct ActiveFault {
  std::string kind;
  std::vector<int> hosts;
  std::string detail;  // e.g. the impairment's parameters
  std::function<bool(std::string&)> heal;
};

class Injector {
 public:
  static constexpr int64_t kClockJumpS = 3600;

  Injector(Network& net, Deployment& dep, std::mt19937_64& rng) : net_(net), dep_(dep), rng_(rng) {}

  // `clock`: the clock-shifting library is there (Deployment::clock_control); `disks`: the hosts' disks are
  // loop-mounted images (root); `netem`: iptables-legacy is there for mqfault-netem's queue rule.
  static std::vector<std::string> kinds_for(Layout l, bool clock, bool disks, bool netem) {
    std::vector<std::string> k{"kill9", "kill9-leader", "kill9-host", "stop", "stop-leader", "isolate",
                               "isolate-leader", "halves"};
    if (Deployment::hosts_of(l) >= 3) k.push_back("bridge");
    if (clock) k.insert(k.end(), {"clock-forward", "clock-back"});
    if (disks) k.push_back("disk-full");
    if (netem) k.insert(k.end(), {"loss", "delay", "reorder"});
    return k;
  }

  std::optional<ActiveFault> apply(const std::string& kind, std::string& why) {
    ActiveFault f;
    f.kind = kind;
    int n = dep_.hosts();
    auto random_host = [&] { return static_cast<int>(rng_() % n); };
    auto leader_or_random = [&] {
      auto groups = dep_.broker_names();
      int h = dep_.leader_host(groups[rng_() % groups.size()]);
      return h >= 0 ? h : random_host();
    };
    if (kind == "kill9" || kind == "kill9-leader" || kind == "kill9-host") {
      int h = kind == "kill9-leader" ? leader_or_random() : random_host();
      f.hosts = {h};
      dep_.container(h).kill9();
      if (kind == "kill9-host") dep_.namesrv(h).kill9();
      f.heal = [this, h](std::string& w) { return dep_.revive(h, w); };
    } else if (kind == "stop" || kind == "stop-leader") {
      int h = kind == "stop-leader" ? leader_or_random() : random_host();
      f.hosts = {h};
      dep_.container(h).freeze();
      f.heal = [this, h](std::string&) {
        dep_.container(h).thaw();
        return true;
      };
    } else if (kind == "isolate" || kind == "isolate-leader") {
      int h = kind == "isolate-leader" ? leader_or_random() : random_host();
      f.hosts = {h};
      if (!net_.isolate(h)) return refused(why);
      f.heal = net_heal();
    } else if (kind == "halves" || kind == "bridge") {
      std::vector<int> order(n);
      for (int i = 0; i < n; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng_);
      bool ok;
      if (kind == "bridge") {
        // order[0] and order[1] cannot talk; order[2] sees both (and the clients see everyone).
        ok = net_.cut(order[0], order[1]);
        f.hosts = {order[0], order[1], order[2]};
      } else {
        size_t cut_at = 1 + rng_() % (n - 1);
        std::vector<int> a(order.begin(), order.begin() + cut_at), b(order.begin() + cut_at, order.end());
        ok = net_.split(a, b);
        f.hosts = order;
      }
      if (!ok) return refused(why);
      f.heal = net_heal();
    } else if (kind == "clock-forward" || kind == "clock-back") {
      // The wall clock of one host (NameServer and container) steps an hour; the heal steps it
      // back, so every clock fault is one jump each way.
      int h = random_host();
      f.hosts = {h};
      if (!dep_.set_clock_offset(h, kind == "clock-forward" ? kClockJumpS : -kClockJumpS, why)) return std::nullopt;
      f.heal = [this, h](std::string& w) { return dep_.set_clock_offset(h, 0, w); };
    } else if (kind == "loss" || kind == "delay" || kind == "reorder") {
      // Everything one host sends (to its peers and to the clients) is impaired, as a bad NIC or
      // switch port would: 15 % lost; or 150 ms +- 50 ms late; or 10 ms +- 10 ms late with a
      // quarter sent at once, which reorders. mqfault-netem (tests/fault/netem.h) in its namespace.
      int h = random_host();
      f.hosts = {h};
      Impairment imp;
      imp.seed = rng_();
      if (kind == "loss") {
        imp.loss_pct = 15;
      } else if (kind == "delay") {
        imp.delay_ms = 150;
        imp.jitter_ms = 50;
      } else {
        imp.delay_ms = 10;
        imp.jitter_ms = 10;
        imp.reorder_pct = 25;
      }
      if (!net_.impair(h, imp)) return refused(why);
      f.detail = imp.describe();
      f.heal = [this, h](std::string& w) {
        if (!net_.clear_impairment(h)) {
          w = net_.error();
          return false;
        }
        if (std::string summary = net_.impairment_summary(h); !summary.empty())
          SAY("host %d's impairment did: %s", h, summary.c_str());
        return true;
      };
    } else if (kind == "disk-full") {
      // Every store of one host meets a full disk; the heal deletes the ballast.
      int h = random_host();
      f.hosts = {h};
      if (!dep_.fill_disk(h, why)) return std::nullopt;
      f.heal = [this, h](std::string& w) { return dep_.free_disk(h, w); };
    } else {
      why = "unknown fault kind '" + kind + "'";
      return std::nullopt;
    }
    return f;
  }

 private:
  // Undoes every cut (all network faults share this heal).
  std::function<bool(std::string&)> net_heal() {
    return [this](std::string& w) {
      if (net_.heal()) return true;
      w = net_.error();
      return false;
    };
  }
  // A cut the kernel refused: undo what was made and say why.
  std::optional<ActiveFault> refused(std::string& why) {
    why = net_.error();
    net_.heal();
    return std::nullopt;
  }

  Network& net_;
  Deployment& dep_;
  std::mt19937_64& rng_;
};

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--keep") {
      o.keep = true;
      continue;
    }
    if (a == "-h" || a == "--help") return false;
    if (!(v = next())) {
      std::fprintf(stderr, "mqfault: %s needs a value\n", a.c_str());
      return false;
    }
    if (a == "--layout") {
      if (std::string(v) == "dledger3") o.layout = Layout::kDLedger3;
      else if (std::string(v) == "masterslave2") o.layout = Layout::kMasterSlave2;
      else return std::fprintf(stderr, "mqfault: unknown layout %s\n", v), false;
    } else if (a == "--duration") o.duration_s = std::atoi(v);
    else if (a == "--fault-interval") o.fault_interval_s = std::atoi(v);
    else if (a == "--hold") o.hold_s = std::atoi(v);
    else if (a == "--seed") o.seed = std::strtoull(v, nullptr, 10), o.seed_given = true;
    else if (a == "--faults") o.faults = split(v, ',');
    else if (a == "--dir") o.dir = v;
    else if (a == "--queues") o.queues = std::atoi(v);
    else if (a == "--send-interval-ms") o.send_interval_ms = std::atoll(v);
    else if (a == "--report-json") o.report_json = v;
    else if (a == "--sabotage") {
      o.sabotage = v;
      if (o.sabotage != "drop-drained" && o.sabotage != "wipe-group")
        return std::fprintf(stderr, "mqfault: unknown sabotage %s\n", v), false;
    } else {
      std::fprintf(stderr, "mqfault: unknown flag %s\n", a.c_str());
      return false;
    }
  }
  if (o.duration_s <= 0 || o.fault_interval_s <= 0 || o.queues <= 0) {
    std::fprintf(stderr, "mqfault: --duration, --fault-interval and --queues must be positive\n");
    return false;
  }
  if (o.hold_s < 0) o.hold_s = std::max(1, std::min(o.fault_interval_s / 2, 10));
  return true;
}

// Every group is led by its preferred member's host (DLedger: preferredLeaderId; master-slave: the master).
bool preferred_leaders_lead(Deployment& dep) {
  auto l = dep.leaders_per_host();
  for (const auto& m : dep.members())
    if (m.preferred && std::count(l[m.host].begin(), l[m.host].end(), m.broker_name) == 0) return false;
  return true;
}

// Sleeps until `until` or an interrupt, printing the workload's progress now and then, and calling
// `each` (if any) every 100 ms.
void wait_until_or_interrupt(Clock::time_point until, Workload* w, const std::function<void()>& each = {}) {
  auto next_progress = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < until && !g_interrupted) {
    if (each) each();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (w && Clock::now() >= next_progress) {
      SAY("progress: %s", w->progress_line().c_str());
      next_progress += std::chrono::seconds(10);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    usage();
    return 2;
  }
  if (!o.seed_given) o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000007ULL;
  auto all_kinds = Injector::kinds_for(o.layout, !Deployment::clock_shift_library().empty(), ::geteuid() == 0,
                                       !Network::iptables_binary().empty());
  if (o.faults.empty()) o.faults = all_kinds;
  for (const auto& k : o.faults)
    if (std::find(all_kinds.begin(), all_kinds.end(), k) == all_kinds.end()) {
      std::fprintf(stderr, "mqfault: fault '%s' is not one of this layout's\n", k.c_str());
      usage();
      return 2;
    }
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGPIPE, SIG_IGN);

  bool made_dir = false;
  if (o.dir.empty()) {
    char tmpl[] = "/tmp/mqfault-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mqfault: mkdtemp");
      return 1;
    }
    o.dir = tmpl;
    made_dir = true;
  }
  std::filesystem::create_directories(o.dir);
  SAY("mqfault: layout=%s duration=%ds fault-interval=%ds hold=%ds seed=%llu dir=%s%s%s", layout_name(o.layout),
      o.duration_s, o.fault_interval_s, o.hold_s, static_cast<unsigned long long>(o.seed), o.dir.c_str(),
      o.sabotage.empty() ? "" : " sabotage=", o.sabotage.c_str());
  std::string faults_text;
  for (const auto& k : o.faults) faults_text += (faults_text.empty() ? "" : ",") + k;
  SAY("faults: %s%s", faults_text.c_str(),
      Deployment::clock_shift_library().empty() ? " (no clock jumps: libmqclockshift.so was not built)" : "");

  Network net;
  if (!net.create(Deployment::hosts_of(o.layout))) {
    std::printf("SKIP: cannot make hosts: %s\n", net.error().c_str());
    if (made_dir && !o.keep) std::filesystem::remove_all(o.dir);
    return 77;
  }
  int rc = 1;
  {
    // Small index files (4 MB instead of 420 MB each, all reserved up front) so that a host's
    // stores fit its disk image with room to spare until a disk-full fault fills it. No forcible
    // cleaning: RocketMQ's default deletes the oldest files of a nearly full disk, consumed or not,
    // which is retention giving way to space, not a fault; the harness checks that a full disk
    // loses nothing, so it keeps every file (as an operator who prefers refused writes would).
    Deployment dep(net, o.layout, o.dir,
                   "mappedFileSizeCommitLog=67108864\nmaxHashSlotNum=50000\nmaxIndexNum=200000\n"
                   "cleanFileForciblyEnable=false\n");
    std::string why;
    if (!dep.disk_control() && std::find(o.faults.begin(), o.faults.end(), "disk-full") != o.faults.end()) {
      SAY("no disk-full faults: the hosts' disk images could not be mounted");
      o.faults.erase(std::remove(o.faults.begin(), o.faults.end(), "disk-full"), o.faults.end());
      if (o.faults.empty()) {
        net.teardown();
        return 77;
      }
    }
    if (!dep.start_all(why)) {
      SAY("FAILED to start the deployment: %s", why.c_str());
      dep.stop_all();
      net.teardown();
      return 1;
    }
    if (!dep.create_topic("FaultTopic", o.queues, why)) {
      SAY("FAILED: %s", why.c_str());
      return 1;
    }
    // DLedger: the first elections may pick any member; the preferred leaders take over soon after.
    test::wait_until(
        [&] { return preferred_leaders_lead(dep); },
        std::chrono::seconds(60));
    auto before = dep.leaders_per_host();
    SAY("hosts: %d, NameServers %s; leaders before: %s", dep.hosts(), dep.namesrv_list().c_str(),
        leaders_text(before).c_str());

    History history(o.dir + "/history.jsonl");
    history.write({{"f", "note"}, {"type", "info"}, {"detail", "start"}, {"seed", o.seed},
                   {"layout", layout_name(o.layout)}, {"leaders", leaders_json(before)}});
    WorkloadOptions wo;
    wo.namesrv_addr = dep.namesrv_list();
    wo.topic = "FaultTopic";
    wo.broker_names = dep.broker_names();
    wo.queues_per_broker = o.queues;
    wo.send_interval_ms = o.send_interval_ms;
    if (o.sabotage == "drop-drained") wo.sabotage_drop_drained_every = 97;
    Workload work(wo, history);
    work.start();

    std::mt19937_64 rng(o.seed);
    Injector inj(net, dep, rng);
    auto start = Clock::now();
    auto end = start + std::chrono::seconds(o.duration_s);
    std::map<std::string, int> applied;
    std::map<std::string, int64_t> worst_failover_ms;  // per kind; hold + 1 ms: not within the hold
    std::vector<nlohmann::json> during;
    int n = 0;
    bool broke = false;
    // The first fault after one interval of fault-free load; then one per interval.
    auto next_fault = start + std::chrono::seconds(std::min(o.fault_interval_s, 10));
    while (!g_interrupted && !broke) {
      wait_until_or_interrupt(std::min(next_fault, end), &work);
      if (g_interrupted || Clock::now() >= end) break;
      if (!o.sabotage.empty() && o.sabotage == "wipe-group" && n == 0) {
        // Self-test: every member of broker-a loses its store (as if all its disks died), so
        // acknowledged messages really are gone and the checker must say so.
        history.write({{"f", "fault"}, {"type", "info"}, {"fault", "wipe-group"}, {"groups", {"broker-a"}}});
        SAY("sabotage: kill -9 every container, delete broker-a's store on every host, restart");
        for (int h = 0; h < dep.hosts(); ++h) dep.container(h).kill9();
        for (int h = 0; h < dep.hosts(); ++h)
          std::filesystem::remove_all(dep.store_dir(h, "broker-a"));
        for (int h = 0; h < dep.hosts(); ++h)
          if (!dep.revive(h, why)) SAY("revive failed: %s", why.c_str());
        dep.create_topic("FaultTopic", o.queues, why);
        history.write({{"f", "heal"}, {"type", "info"}, {"fault", "wipe-group"}});
        ++n;
        next_fault += std::chrono::seconds(o.fault_interval_s);
        continue;
      }
      const std::string& kind = o.faults[rng() % o.faults.size()];
      auto f = inj.apply(kind, why);
      if (!f) {
        SAY("fault %s could not be applied: %s", kind.c_str(), why.c_str());
        broke = true;
        break;
      }
      ++n;
      ++applied[kind];
      auto fault_t = Clock::now();
      nlohmann::json hosts = f->hosts;
      history.write({{"f", "fault"}, {"type", "info"}, {"fault", kind}, {"hosts", hosts}, {"groups", {"*"}}, {"n", n}});
      SAY("fault %d: %s on hosts %s%s%s", n, kind.c_str(), hosts.dump().c_str(), f->detail.empty() ? "" : ": ",
          f->detail.c_str());
      // Failover, as the brokers see it: the time until every group has a leader (or master) the
      // harness can reach again. Clients see it later: a send to a frozen or cut-off leader waits
      // out its timeout before the client moves on.
      int64_t failover_ms = -1;
      wait_until_or_interrupt(fault_t + std::chrono::seconds(o.hold_s), &work, [&] {
        if (failover_ms < 0 && dep.every_group_led())
          failover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - fault_t).count();
      });
      if (failover_ms >= 0) worst_failover_ms[kind] = std::max(worst_failover_ms[kind], failover_ms);
      else worst_failover_ms[kind] = std::max<int64_t>(worst_failover_ms[kind], int64_t{o.hold_s} * 1000 + 1);
      auto mid = dep.leaders_per_host();
      during.push_back({{"fault", kind}, {"hosts", hosts}, {"leaders", leaders_json(mid)}, {"failover_ms", failover_ms}});
      if (!f->heal(why)) {
        SAY("heal of %s failed: %s", kind.c_str(), why.c_str());
        broke = true;
      }
      history.write({{"f", "heal"}, {"type", "info"}, {"fault", kind}, {"hosts", hosts}, {"n", n},
                     {"leaders_during", leaders_json(mid)}});
      auto heal_t = Clock::now();
      bool led = test::wait_until([&] { return dep.every_group_led(); }, std::chrono::seconds(60));
      SAY("healed %s; every group led during the fault %s; leaders during: %s; every group led again %s after %.1f s",
          kind.c_str(), failover_ms >= 0 ? (std::to_string(failover_ms) + " ms after it").c_str() : "NEVER",
          leaders_text(mid).c_str(), led ? "yes" : "NO", std::chrono::duration<double>(Clock::now() - heal_t).count());
      next_fault = std::max(next_fault + std::chrono::seconds(o.fault_interval_s), Clock::now() + std::chrono::seconds(1));
    }

    SAY("fault phase over (%d faults); healing, then load until every group took sends and reads again", n);
    net.heal();
    net.clear_impairments();
    for (int h = 0; h < dep.hosts(); ++h)
      if (dep.disk_control() && !dep.free_disk(h, why)) SAY("freeing the disk of host %d failed: %s", h, why.c_str());
    for (int h = 0; h < dep.hosts(); ++h)
      if (!dep.revive(h, why)) SAY("revive of host %d failed: %s", h, why.c_str());
    bool led = test::wait_until([&] { return dep.every_group_led(); }, std::chrono::seconds(90));
    // Without load after the last heal, the last fault's windows would read "never recovered".
    auto healed = work.counters();
    bool recovered = test::wait_until(
        [&] {
          auto c = work.counters();
          for (const auto& g : dep.broker_names())
            if (c.acked_by_broker[g] <= healed.acked_by_broker[g] || c.consumed_by_broker[g] <= healed.consumed_by_broker[g])
              return false;
          return true;
        },
        std::chrono::seconds(90));
    SAY("every group took sends and reads after the heal: %s", recovered ? "yes" : "NO");
    work.stop_sending();
    // DLedger: the preferred leaders take leadership back, so every host carries one leader again.
    bool symmetric = test::wait_until(
        [&] { return preferred_leaders_lead(dep); },
        std::chrono::seconds(60));
    auto after = dep.leaders_per_host();
    SAY("leaders after: %s (every group led: %s; each host leads its own group again: %s)", leaders_text(after).c_str(),
        led ? "yes" : "NO", symmetric ? "yes" : "NO");
    history.write({{"f", "note"}, {"type", "info"}, {"detail", "healed"}, {"leaders", leaders_json(after)}});
    SAY("draining every queue");
    bool drained = work.drain(std::chrono::seconds(240));
    work.stop();
    SAY("drain %s: %s", drained ? "done" : "TIMED OUT", work.progress_line().c_str());
    dep.stop_all();

    Report report = check_history(history.path());
    std::printf("\n%s\n", report.text().c_str());
    std::printf("seed %llu, layout %s, faults applied:", static_cast<unsigned long long>(o.seed), layout_name(o.layout));
    for (auto& [k, c] : applied) std::printf(" %s=%d", k.c_str(), c);
    std::printf("\nfailover (every group led by a member the harness reaches), worst per fault kind:");
    for (auto& [k, ms] : worst_failover_ms)
      std::printf(" %s=%s", k.c_str(), ms > int64_t{o.hold_s} * 1000 ? "never-within-hold" : (std::to_string(ms) + "ms").c_str());
    std::printf("\nleaders before: %s\n", leaders_text(before).c_str());
    for (const auto& d : during) std::printf("leaders during %s on %s: %s\n", d["fault"].get<std::string>().c_str(),
                                             d["hosts"].dump().c_str(), d["leaders"].dump().c_str());
    std::printf("leaders after: %s\nhistory: %s\n", leaders_text(after).c_str(), history.path().c_str());
    if (!o.report_json.empty()) {
      nlohmann::json j = report.to_json();
      j["seed"] = o.seed;
      j["layout"] = layout_name(o.layout);
      j["leaders_before"] = leaders_json(before);
      j["leaders_during"] = during;
      j["leaders_after"] = leaders_json(after);
      j["symmetric_after"] = symmetric;
      j["drained"] = drained;
      j["faults_applied"] = applied;
      j["worst_failover_ms"] = worst_failover_ms;
      std::ofstream(o.report_json) << j.dump(2) << "\n";
    }
    if (!o.sabotage.empty()) {
      bool seen = report.lost > 0 || report.moved > 0;
      std::printf("SELF-TEST (%s): the checker %s the losses the sabotage made (lost=%lld moved=%lld)\n",
                  o.sabotage.c_str(), seen ? "saw" : "DID NOT SEE", static_cast<long long>(report.lost),
                  static_cast<long long>(report.moved));
      rc = seen ? 0 : 1;
    } else {
      rc = (report.ok() && drained && !broke && led && recovered && !g_interrupted) ? 0 : 1;
      std::printf("RESULT: %s\n", rc == 0 ? "PASS" : "FAIL");
    }
  }
  net.teardown();
  if (made_dir && !o.keep && rc == 0) std::filesystem::remove_all(o.dir);
  return rc;
}

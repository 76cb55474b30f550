// test_fault_netem: Network::impair (netns.h) end to end on two hosts. Host 1 echoes UDP and TCP;
// host 0 is impaired (outbound) and measures:
// - delay 50 ms, no jitter: every TCP and UDP round trip >= 50 ms and well under 150 ms, also for the
//   harness's clients on the bridge talking to host 0; a TCP stream still moves > 1 MiB/s;
// - loss 30 % on UDP: 22..38 % of 1000 datagrams go missing;
// - jitter (20 +- 15 ms, one datagram a millisecond): sequence numbers come back out of order, none
//   lost, no round trip below delay - jitter;
// - reorder 25 % with delay 30 ms: about a quarter comes back fast, and out of order;
// - after clear_impairment: round trips back under 20 ms, no NFQUEUE rule left, the daemon gone.
// Root only; exits 77 (skipped) when namespaces cannot be made or iptables-legacy is missing.
// Every wait is bounded (receive timeouts); a failure says what was expected and what came.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "tests/fault/netns.h"

namespace {

using mq::fault::Impairment;
using mq::fault::Network;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kUdpPort = 7000;
constexpr uint16_t kTcpPort = 7001;

int failures = 0;

void check(bool ok, const std::string& what, const std::string& expected, const std::string& got) {
  std::printf("%s: %s (expected %s, got %s)\n", ok ? "ok" : "FAIL", what.c_str(), expected.c_str(), got.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

std::string ms(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f ms", v);
  return b;
}

double now_ms() { return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count(); }

// A socket of `ns`'s network stack (empty: the harness's own). A socket stays in the namespace it
// was made in, so only its creation needs this thread moved there and back.
int socket_in(const std::string& ns, int type) {
  if (ns.empty()) return ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  int own = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  int fd = -1;
  if (own >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0) {
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (::setns(own, CLONE_NEWNET) != 0) {
      std::perror("setns back");
      std::abort();
    }
  }
  if (own >= 0) ::close(own);
  if (target >= 0) ::close(target);
  return fd;
}

sockaddr_in addr(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// UDP and TCP echo in given namespaces, on a thread of its own.
class EchoServers {
 public:
  bool start(const std::vector<std::pair<std::string, std::string>>& ns_and_ip) {
    for (auto& [ns, ip] : ns_and_ip) {
      int u = socket_in(ns, SOCK_DGRAM), t = socket_in(ns, SOCK_STREAM);
      if (u < 0 || t < 0) return false;
      int one = 1, big = 4 << 20;
      ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      ::setsockopt(u, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      auto ua = addr(ip, kUdpPort), ta = addr(ip, kTcpPort);
      if (::bind(u, reinterpret_cast<sockaddr*>(&ua), sizeof ua) != 0 ||
          ::bind(t, reinterpret_cast<sockaddr*>(&ta), sizeof ta) != 0 || ::listen(t, 16) != 0) {
        std::perror("echo bind");
        return false;
      }
      udp_.push_back(u);
      listeners_.push_back(t);
    }
    thread_ = std::thread([this] { run(); });
    return true;
  }
  ~EchoServers() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : udp_) ::close(fd);
    for (int fd : listeners_) ::close(fd);
    for (int fd : conns_) ::close(fd);
  }

 private:
  void run() {
    char buf[2048];
    while (!stop_) {
      std::vector<pollfd> fds;
      for (int fd : udp_) fds.push_back({fd, POLLIN, 0});
      for (int fd : listeners_) fds.push_back({fd, POLLIN, 0});
      for (int fd : conns_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (auto& p : fds) {
        if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        bool is_udp = std::find(udp_.begin(), udp_.end(), p.fd) != udp_.end();
        bool is_listener = std::find(listeners_.begin(), listeners_.end(), p.fd) != listeners_.end();
        if (is_udp) {
          sockaddr_in from{};
          socklen_t len = sizeof from;
          ssize_t n = ::recvfrom(p.fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
          if (n > 0) ::sendto(p.fd, buf, n, 0, reinterpret_cast<sockaddr*>(&from), len);
        } else if (is_listener) {
          int c = ::accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) {
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            conns_.push_back(c);
          }
        } else {
          ssize_t n = ::recv(p.fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) {
            ::send(p.fd, buf, n, MSG_NOSIGNAL);
          } else if (n == 0) {
            ::close(p.fd);
            conns_.erase(std::find(conns_.begin(), conns_.end(), p.fd));
          }
        }
      }
    }
  }

  std::vector<int> udp_, listeners_, conns_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Probe {
  uint32_t seq;
  double sent_ms;
};

struct UdpResult {
  int sent = 0;
  std::vector<double> rtts;       // in order of arrival
  std::vector<uint32_t> arrival;  // sequence numbers in order of arrival
  size_t inversions() const {
    size_t n = 0;
    uint32_t highest = 0;
    for (size_t i = 0; i < arrival.size(); ++i) {
      if (i > 0 && arrival[i] < highest) ++n;
      highest = std::max(highest, arrival[i]);
    }
    return n;
  }
};

// Sends `count` numbered datagrams, one every `gap_us`, to an echo and collects the replies until all
// came back or none came for `quiet_ms`.
UdpResult udp_run(const std::string& ns, const std::string& to_ip, int count, int gap_us, int quiet_ms = 1000) {
  UdpResult r;
  int fd = socket_in(ns, SOCK_DGRAM);
  if (fd < 0) return r;
  int big = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  auto to = addr(to_ip, kUdpPort);
  auto receive = [&](int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    Probe probe{};
    while (::recv(fd, &probe, sizeof probe, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof probe)) {
      r.arrival.push_back(probe.seq);
      r.rtts.push_back(now_ms() - probe.sent_ms);
    }
    return true;
  };
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto at = start + std::chrono::microseconds(static_cast<int64_t>(i) * gap_us);
    while (Clock::now() < at) receive(0), std::this_thread::sleep_for(std::chrono::microseconds(100));
    Probe p{static_cast<uint32_t>(i), now_ms()};
    ::sendto(fd, &p, sizeof p, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ++r.sent;
    receive(0);
  }
  while (static_cast<int>(r.arrival.size()) < count && receive(quiet_ms)) {
  }
  ::close(fd);
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double minimum(const std::vector<double>& v) { return v.empty() ? -1 : *std::min_element(v.begin(), v.end()); }
double maximum(const std::vector<double>& v) { return v.empty() ? -1 : *std::max_element(v.begin(), v.end()); }

// One TCP connection from `ns` to the echo at `to_ip`: the connect time, then `rounds` round trips.
std::vector<double> tcp_rtts(const std::string& ns, const std::string& to_ip, int rounds, double* connect_ms) {
  std::vector<double> out;
  int fd = socket_in(ns, SOCK_STREAM);
  if (fd < 0) return out;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect()
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto to = addr(to_ip, kTcpPort);
  double t0 = now_ms();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::perror("tcp connect");
    ::close(fd);
    return out;
  }
  if (connect_ms) *connect_ms = now_ms() - t0;
  char msg[64], back[64];
  std::memset(msg, 'x', sizeof msg);
  for (int i = 0; i < rounds; ++i) {
    double t = now_ms();
    if (::send(fd, msg, sizeof msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg)) break;
    size_t got = 0;
    while (got < sizeof back) {
      ssize_t n = ::recv(fd, back + got, sizeof back - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got < sizeof back) break;
    out.push_back(now_ms() - t);
  }
  ::close(fd);
  return out;
}

// Streams `bytes` through the TCP echo at `to_ip` from `ns` (writing and reading at once); the
// seconds until all came back, or -1.
double tcp_bulk_seconds(const std::string& ns, const std::string& to_ip, size_t bytes) {
  int fd = socket_in(ns, SOCK_STREAM);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  auto to = addr(to_ip, kTcpPort);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::vector<char> chunk(64 << 10, 'b');
  size_t sent = 0, got = 0;
  auto start = Clock::now(), deadline = start + std::chrono::seconds(20);
  while (got < bytes && Clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < bytes ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if ((p.revents & POLLOUT) && sent < bytes) {
      ssize_t n = ::send(fd, chunk.data(), std::min(chunk.size(), bytes - sent), MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    if (p.revents & POLLIN) {
      ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
      if (n == 0) break;
      if (n > 0) got += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  return got >= bytes ? std::chrono::duration<double>(Clock::now() - start).count() : -1;
}

bool has_nfqueue_rule(const Network& net, int host) {
  auto r = mq::test::run_command(
      {Network::ip_binary(), "netns", "exec", net.ns(host), Network::iptables_binary(), "-w", "10", "-t", "mangle", "-S"});
  return r.output.find("NFQUEUE") != std::string::npos;
}

std::string summary_field(const std::string& summary, const std::string& key) {
  size_t at = summary.find(key + "=");
  if (at == std::string::npos) return "?";
  at += key.size() + 1;
  return summary.substr(at, summary.find(' ', at) - at);
}

}  // namespace

int main() {
  ::signal(SIGPIPE, SIG_IGN);
  if (Network::iptables_binary().empty()) {
    std::printf("skipped: iptables-legacy not found\n");
    return 77;
  }
  Network net;
  if (!net.create(2)) {
    std::printf("skipped: cannot make network namespaces: %s\n", net.error().c_str());
    return 77;
  }
  std::printf("hosts %s (%s) and %s (%s), clients %s; mqfault-netem: %s\n", net.ns(0).c_str(), net.host_ip(0).c_str(),
              net.ns(1).c_str(), net.host_ip(1).c_str(), net.client_ip().c_str(), net.netem_binary().c_str());
  EchoServers echo;
  if (!echo.start({{net.ns(0), net.host_ip(0)}, {net.ns(1), net.host_ip(1)}})) {
    std::printf("FAIL: cannot start the echo servers in the namespaces\n");
    return 1;
  }
  auto started = Clock::now();
  const std::string h0 = net.ns(0), h1_ip = net.host_ip(1), h0_ip = net.host_ip(0);

  // Baseline.
  auto base = udp_run(h0, h1_ip, 20, 2000);
  double base_connect = -1;
  auto base_tcp = tcp_rtts(h0, h1_ip, 10, &base_connect);
  check(base.arrival.size() == 20 && base_tcp.size() == 10, "baseline: all echoes back", "20 UDP + 10 TCP",
        std::to_string(base.arrival.size()) + " UDP + " + std::to_string(base_tcp.size()) + " TCP");
  std::printf("baseline: UDP median %s, TCP median %s\n", ms(median(base.rtts)).c_str(), ms(median(base_tcp)).c_str());

  // Delay 50 ms, no jitter.
  {
    Impairment imp;
    imp.delay_ms = 50;
    imp.seed = 1;
    if (!net.impair(0, imp)) {
      std::printf("FAIL: impair(0, %s): %s\n", imp.describe().c_str(), net.error().c_str());
      return 1;
    }
    bool rule = has_nfqueue_rule(net, 0);
    check(rule, "delay: NFQUEUE rule installed in host 0", "a rule", rule ? "a rule" : "none");
    double connect = -1;
    auto tcp = tcp_rtts(h0, h1_ip, 10, &connect);
    check(tcp.size() == 10, "delay: TCP echo rounds", "10", std::to_string(tcp.size()));
    check(minimum(tcp) >= 50 && maximum(tcp) < 150, "delay 50ms: TCP round trip host 0 -> host 1",
          "all in [50, 150) ms", "min " + ms(minimum(tcp)) + " max " + ms(maximum(tcp)));
    check(connect >= 50 && connect < 150, "delay 50ms: TCP connect (SYN delayed)", "[50, 150) ms", ms(connect));
    auto udp = udp_run(h0, h1_ip, 50, 2000);
    check(udp.arrival.size() == 50, "delay: UDP echoes back", "50", std::to_string(udp.arrival.size()));
    check(minimum(udp.rtts) >= 50 && maximum(udp.rtts) < 150, "delay 50ms: UDP round trip host 0 -> host 1",
          "all in [50, 150) ms", "min " + ms(minimum(udp.rtts)) + " max " + ms(maximum(udp.rtts)));
    check(udp.inversions() == 0, "delay without jitter keeps the order", "0 out of order",
          std::to_string(udp.inversions()));
    // A stream keeps its throughput (a held packet would count against the socket's small-queue
    // limit: about two packets per delay, some 60 KB/s here; netem_main.cc's copy mode avoids it).
    double secs = tcp_bulk_seconds(h0, h1_ip, 8u << 20);
    check(secs > 0 && secs < 8, "delay 50ms: 8 MiB TCP stream host 0 -> host 1 and back",
          "done in < 8 s (> 1 MiB/s)", secs < 0 ? std::string("not done in 20 s") : std::to_string(secs) + " s");
    // The clients on the bridge talk to host 0: its answers are delayed too.
    auto client = udp_run("", h0_ip, 20, 2000);
    check(client.arrival.size() == 20 && minimum(client.rtts) >= 50 && maximum(client.rtts) < 150,
          "delay 50ms: clients -> host 0 round trip", "20 back, all in [50, 150) ms",
          std::to_string(client.arrival.size()) + " back, min " + ms(minimum(client.rtts)) + " max " +
              ms(maximum(client.rtts)));
    // Host 1 is not impaired: its own traffic to the clients stays fast.
    auto other = udp_run("", h1_ip, 20, 2000);
    check(median(other.rtts) >= 0 && median(other.rtts) < 20, "delay on host 0 leaves host 1 alone",
          "clients -> host 1 median < 20 ms", ms(median(other.rtts)));
    bool cleared = net.clear_impairment(0);
    check(cleared, "clear_impairment(0)", "true", cleared ? "true" : net.error());
    std::printf("delay: %s\n", net.impairment_summary(0).c_str());
    check(summary_field(net.impairment_summary(0), "delayed") != "?" &&
              summary_field(net.impairment_summary(0), "dropped") == "0",
          "delay: daemon summary", "a summary line with dropped=0", "'" + net.impairment_summary(0) + "'");
  }

  // Back to normal.
  {
    double connect = -1;
    auto tcp = tcp_rtts(h0, h1_ip, 10, &connect);
    auto udp = udp_run(h0, h1_ip, 20, 2000);
    check(tcp.size() == 10 && median(tcp) < 20 && maximum(tcp) < 50, "after clear: TCP round trip",
          "10 rounds, median < 20 ms, max < 50 ms",
          std::to_string(tcp.size()) + " rounds, median " + ms(median(tcp)) + " max " + ms(maximum(tcp)));
    check(udp.arrival.size() == 20 && median(udp.rtts) < 20, "after clear: UDP round trip",
          "20 back, median < 20 ms",
          std::to_string(udp.arrival.size()) + " back, median " + ms(median(udp.rtts)));
    bool rule = has_nfqueue_rule(net, 0);
    check(!rule, "after clear: no NFQUEUE rule in host 0", "none", rule ? "a rule left" : "none");
    check(net.impairments().empty(), "after clear: no impairment recorded", "0",
          std::to_string(net.impairments().size()));
  }

  // Loss 30 % on UDP.
  {
    Impairment imp;
    imp.loss_pct = 30;
    imp.seed = 20261207;
    if (!net.impair(0, imp)) {
      std::printf("FAIL: impair(0, %s): %s\n", imp.describe().c_str(), net.error().c_str());
      return 1;
    }
    auto udp = udp_run(h0, h1_ip, 1000, 300, 500);
    double lost = 100.0 * (udp.sent - static_cast<double>(udp.arrival.size())) / udp.sent;
    net.clear_impairment(0);
    std::printf("loss: %s\n", net.impairment_summary(0).c_str());
    char got[64];
    std::snprintf(got, sizeof got, "%.1f %% (%zu of %d back)", lost, udp.arrival.size(), udp.sent);
    // Binomial at 1000 datagrams: sigma 1.45 points; 8 points is > 5 sigma.
    check(lost >= 22 && lost <= 38, "loss 30%: UDP datagrams host 0 -> host 1 lost", "22..38 %", got);
  }

  // Jitter: 20 +- 15 ms, one datagram a millisecond.
  {
    Impairment imp;
    imp.delay_ms = 20;
    imp.jitter_ms = 15;
    imp.seed = 5;
    if (!net.impair(0, imp)) {
      std::printf("FAIL: impair(0, %s): %s\n", imp.describe().c_str(), net.error().c_str());
      return 1;
    }
    auto udp = udp_run(h0, h1_ip, 300, 1000);
    net.clear_impairment(0);
    std::printf("jitter: %s\n", net.impairment_summary(0).c_str());
    check(udp.arrival.size() == 300, "jitter: nothing lost", "300 back", std::to_string(udp.arrival.size()));
    check(udp.inversions() >= 10, "jitter 20+-15ms: UDP sequence numbers out of order", ">= 10 of 300",
          std::to_string(udp.inversions()));
    check(minimum(udp.rtts) >= 5 && maximum(udp.rtts) < 150, "jitter: round trips", "in [5, 150) ms",
          "min " + ms(minimum(udp.rtts)) + " max " + ms(maximum(udp.rtts)));
  }

  // Reorder 25 % with delay 30 ms.
  {
    Impairment imp;
    imp.delay_ms = 30;
    imp.reorder_pct = 25;
    imp.seed = 9;
    if (!net.impair(0, imp)) {
      std::printf("FAIL: impair(0, %s): %s\n", imp.describe().c_str(), net.error().c_str());
      return 1;
    }
    auto udp = udp_run(h0, h1_ip, 400, 1000);
    size_t fast = std::count_if(udp.rtts.begin(), udp.rtts.end(), [](double v) { return v < 15; });
    // Teardown (not clear_impairment) must stop the daemon and remove the rule too; checked below.
    check(udp.arrival.size() == 400, "reorder: nothing lost", "400 back", std::to_string(udp.arrival.size()));
    check(fast >= 60 && fast <= 140, "reorder 25%: datagrams sent at once", "60..140 of 400",
          std::to_string(fast));
    check(udp.inversions() >= 10, "reorder 25%: sequence numbers out of order", ">= 10",
          std::to_string(udp.inversions()));
  }

  auto impaired = net.impairments();
  net.teardown();
  auto ns_list = mq::test::run_command({Network::ip_binary(), "netns", "list"});
  check(!impaired.empty() && net.impairments().empty() && ns_list.output.find(h0) == std::string::npos,
        "teardown clears impairments and namespaces", "no impairment, no namespace " + h0,
        std::to_string(net.impairments().size()) + " impairments, namespace " +
            (ns_list.output.find(h0) == std::string::npos ? "gone" : "left"));
  std::printf("reorder (stopped by teardown): %s\n", net.impairment_summary(0).c_str());
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("%s: %d failure(s) in %.1f s\n", failures ? "FAILED" : "PASSED", failures, secs);
  return failures ? 1 : 0;
}

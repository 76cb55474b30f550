// mqfault-netem: delay, jitter, loss and reorder of the packets an iptables NFQUEUE rule hands over,
// for kernels without sch_netem. Run it inside the namespace whose packets it judges (NFQUEUE
// queues belong to a network namespace):
//   ip netns exec <ns> mqfault-netem --queue N [--delay-ms D] [--jitter-ms J] [--distribution
//     uniform|normal] [--loss-pct L] [--reorder-pct R] [--seed S] [--mode copy|hold]
//     [--maxlen PACKETS] [--dev eth0]
// with a rule such as `iptables-legacy -t mangle -A OUTPUT -o eth0 -m mark ! --mark 0x6d716e65
// -j NFQUEUE --queue-num N --queue-bypass` (Network::impair in netns.h does both).
//
// The decisions are NetemScheduler's (netem.h); lost packets get NF_DROP at once. The others leave
// at their release time, in one of two ways:
// - hold (copy mode "meta": only ids cross to userspace): the kernel keeps the packet and we give
//   NF_ACCEPT at the release time. Simple, but TCP's small-queue limit (TSQ) counts a held packet
//   against its socket until it leaves the host, so a socket gets only about two packets out per
//   delay: 50 ms of delay caps a TCP stream near 60 KB/s, a bandwidth limit netem does not have
//   (netem detaches held packets from their socket for that reason).
// - copy, the default: the packet's bytes come to userspace, the original gets NF_DROP at once
//   (the socket is charged no longer: to TCP it has left), and at the release time the copy is sent
//   again through a raw IP socket carrying the mark 0x6d716e65, which the rule lets pass. The bytes
//   are the same (the kernel splits GSO packets and fills in checksums before handing them over);
//   packets larger than the device's MTU (a UDP datagram the IP layer would fragment later) are
//   held instead. Streams keep their throughput under delay.
// The queue is fail-open: past --maxlen packets waiting for a verdict, or when our socket buffer is
// full, the kernel lets packets through rather than dropping them, so the tool can lose precision
// under load but never adds losses of its own. On SIGTERM or SIGINT everything still held leaves at
// once and the program exits 0.
//
// Prints "mqfault-netem: ready queue=N ..." once bound, and on exit "mqfault-netem: summary seen=..
// dropped=.. delayed=.. reordered=.. released=.. copied=.. held=.. verdict_errors=.. send_errors=..".
// Exit codes: 0 done, 1 the queue could not be bound (not root, or no nfnetlink_queue), 2 usage.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <signal.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>

#include "tests/fault/netem.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

namespace {

using mq::fault::NetemConfig;
using mq::fault::NetemScheduler;

int64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

constexpr uint32_t kReinjectMark = 0x6d716e65;  // "mqne"; Network::impair's rule skips it

struct Packet {
  std::string bytes;  // empty: the kernel holds the original (hold mode, or too big to copy)
};

struct Context {
  nfq_q_handle* queue = nullptr;
  NetemScheduler* scheduler = nullptr;
  bool copy = true;
  size_t mtu = 1500;
  int raw_fd = -1;
  std::unordered_map<uint64_t, Packet> held;
  size_t held_bytes = 0;
  uint64_t copied = 0, kept = 0, verdict_errors = 0, send_errors = 0;
};

// Copies in userspace beyond this go through unjudged (fail-open, like the kernel queue).
constexpr size_t kMaxHeldBytes = 256u << 20;

void verdict(Context& ctx, uint64_t id, uint32_t v) {
  if (::nfq_set_verdict(ctx.queue, static_cast<uint32_t>(id), v, 0, nullptr) < 0) ++ctx.verdict_errors;
}

void release(Context& ctx, uint64_t id) {
  auto it = ctx.held.find(id);
  if (it == ctx.held.end()) return;
  const std::string& b = it->second.bytes;
  if (b.empty()) {
    verdict(ctx, id, NF_ACCEPT);
  } else {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, b.data() + 16, 4);  // the IPv4 header's destination
    if (::sendto(ctx.raw_fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      ++ctx.send_errors;
    ctx.held_bytes -= b.size();
  }
  ctx.held.erase(it);
}

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* arg) {
  auto& ctx = *static_cast<Context*>(arg);
  nfqnl_msg_packet_hdr* hdr = ::nfq_get_msg_packet_hdr(data);
  if (hdr == nullptr) return 0;
  uint32_t id = ntohl(hdr->packet_id);
  auto d = ctx.scheduler->offer(id, now_us());
  if (d.drop) {
    verdict(ctx, id, NF_DROP);
    return 0;
  }
  Packet p;
  unsigned char* payload = nullptr;
  int len = ctx.copy ? ::nfq_get_payload(data, &payload) : -1;
  bool ipv4 = len >= 20 && (payload[0] >> 4) == 4;
  if (ipv4 && static_cast<size_t>(len) <= ctx.mtu && ctx.held_bytes + len <= kMaxHeldBytes) {
    p.bytes.assign(reinterpret_cast<char*>(payload), static_cast<size_t>(len));
    ctx.held_bytes += p.bytes.size();
    verdict(ctx, id, NF_DROP);  // the copy goes out instead
    ++ctx.copied;
  } else {
    ++ctx.kept;
  }
  ctx.held[id] = std::move(p);
  return 0;
}

size_t device_mtu(const std::string& dev) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  size_t mtu = 1500;
  if (fd >= 0 && ::ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) mtu = static_cast<size_t>(ifr.ifr_mtu);
  if (fd >= 0) ::close(fd);
  return mtu;
}

int usage() {
  std::fprintf(stderr,
               "usage: mqfault-netem --queue N [--delay-ms D] [--jitter-ms J] [--distribution uniform|normal]\n"
               "                     [--loss-pct L] [--reorder-pct R] [--seed S] [--mode copy|hold] [--maxlen PACKETS]\n"
               "                     [--dev eth0]\n");
  return 2;
}

bool number(const char* s, double& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s, &end);
  return errno == 0 && end != s && *end == '\0' && out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  NetemConfig config;
  double queue_num = -1, maxlen = 10240;
  bool copy = true;
  std::string dev = "eth0";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    double x = 0;
    if (a == "--mode") {
      if (std::strcmp(v, "copy") == 0) copy = true;
      else if (std::strcmp(v, "hold") == 0) copy = false;
      else return usage();
      continue;
    }
    if (a == "--dev") {
      dev = v;
      continue;
    }
    if (a == "--distribution") {
      if (std::strcmp(v, "uniform") == 0) config.distribution = NetemConfig::Distribution::uniform;
      else if (std::strcmp(v, "normal") == 0) config.distribution = NetemConfig::Distribution::normal;
      else return usage();
      continue;
    }
    if (!number(v, x)) return usage();
    if (a == "--queue") queue_num = x;
    else if (a == "--delay-ms") config.delay_us = static_cast<int64_t>(x * 1000);
    else if (a == "--jitter-ms") config.jitter_us = static_cast<int64_t>(x * 1000);
    else if (a == "--loss-pct") config.loss_pct = x;
    else if (a == "--reorder-pct") config.reorder_pct = x;
    else if (a == "--seed") config.seed = std::strtoull(v, nullptr, 10);
    else if (a == "--maxlen") maxlen = x;
    else return usage();
  }
  if (queue_num < 0 || queue_num > 65535 || config.loss_pct > 100 || config.reorder_pct > 100 || maxlen < 1)
    return usage();

  // Signals arrive through the poll loop, so a packet is never half handled when we stop.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sig_fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  NetemScheduler scheduler(config);
  Context ctx;
  ctx.scheduler = &scheduler;
  ctx.copy = copy;
  ctx.mtu = device_mtu(dev);
  if (copy) {
    // IPPROTO_RAW: we write the whole IPv4 header; the mark lets the copy past the NFQUEUE rule.
    ctx.raw_fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    uint32_t mark = kReinjectMark;
    int sndbuf = 8 << 20;
    if (ctx.raw_fd < 0 || ::setsockopt(ctx.raw_fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
      std::fprintf(stderr, "mqfault-netem: raw socket with a mark: %s (root?)\n", std::strerror(errno));
      return 1;
    }
    ::setsockopt(ctx.raw_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  nfq_handle* h = ::nfq_open();
  if (h == nullptr) {
    std::fprintf(stderr, "mqfault-netem: nfq_open: %s\n", std::strerror(errno));
    return 1;
  }
  // Pre-3.8 kernels need the address family bound; newer ones ignore this, so errors are not fatal.
  ::nfq_bind_pf(h, AF_INET);
  ctx.queue = ::nfq_create_queue(h, static_cast<uint16_t>(queue_num), &on_packet, &ctx);
  if (ctx.queue == nullptr) {
    std::fprintf(stderr, "mqfault-netem: cannot bind queue %d: %s (root? another listener?)\n",
                 static_cast<int>(queue_num), std::strerror(errno));
    ::nfq_close(h);
    return 1;
  }
  // Copying needs real packets with their checksums, so the kernel splits GSO packets first;
  // holding takes a GSO packet whole (as netem does: one decision per packet the stack sent).
  uint32_t flags = NFQA_CFG_F_FAIL_OPEN | (copy ? 0 : NFQA_CFG_F_GSO);
  if (::nfq_set_mode(ctx.queue, copy ? NFQNL_COPY_PACKET : NFQNL_COPY_META, copy ? 0xffff : 0) < 0 ||
      ::nfq_set_queue_maxlen(ctx.queue, static_cast<uint32_t>(maxlen)) < 0 ||
      ::nfq_set_queue_flags(ctx.queue, flags, flags) < 0) {
    std::fprintf(stderr, "mqfault-netem: configuring queue %d: %s\n", static_cast<int>(queue_num),
                 std::strerror(errno));
    ::nfq_destroy_queue(ctx.queue);
    ::nfq_close(h);
    return 1;
  }
  int fd = ::nfq_fd(h);
  // A burst of packet notices must not overflow the socket (fail-open would let them through
  // unjudged); and an overflow must not turn into an error on every read.
  ::nfnl_rcvbufsiz(::nfq_nfnlh(h), 8 << 20);
  int one = 1;
  ::setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  std::printf("mqfault-netem: ready queue=%d delay_ms=%.3f jitter_ms=%.3f distribution=%s loss_pct=%g reorder_pct=%g "
              "seed=%llu maxlen=%d mode=%s mtu=%zu\n",
              static_cast<int>(queue_num), static_cast<double>(config.delay_us) / 1000,
              static_cast<double>(config.jitter_us) / 1000,
              config.distribution == NetemConfig::Distribution::normal ? "normal" : "uniform", config.loss_pct,
              config.reorder_pct, static_cast<unsigned long long>(config.seed), static_cast<int>(maxlen),
              copy ? "copy" : "hold", ctx.mtu);
  std::fflush(stdout);

  alignas(16) static char buf[1 << 16];
  bool stop = false;
  while (!stop) {
    for (uint64_t id : scheduler.due(now_us())) release(ctx, id);
    timespec timeout{};
    timespec* tp = nullptr;
    if (auto next = scheduler.next_release_us()) {
      int64_t wait = std::max<int64_t>(0, *next - now_us());
      timeout.tv_sec = wait / 1'000'000;
      timeout.tv_nsec = (wait % 1'000'000) * 1000;
      tp = &timeout;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
    int n = ::ppoll(fds, sig_fd >= 0 ? 2 : 1, tp, nullptr);
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "mqfault-netem: poll: %s\n", std::strerror(errno));
      break;
    }
    if (n <= 0) continue;
    if (sig_fd >= 0 && (fds[1].revents & POLLIN)) stop = true;
    if (fds[0].revents & POLLIN) {
      while (true) {
        ssize_t len = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (len > 0) {
          ::nfq_handle_packet(h, buf, static_cast<int>(len));
          continue;
        }
        if (len < 0 && errno == EINTR) continue;
        break;  // EAGAIN, or ENOBUFS (the kernel let those packets through: fail-open)
      }
    }
  }

  for (uint64_t id : scheduler.drain()) release(ctx, id);
  ::nfq_destroy_queue(ctx.queue);
  ::nfq_close(h);
  if (ctx.raw_fd >= 0) ::close(ctx.raw_fd);
  std::printf("mqfault-netem: summary %s copied=%llu held=%llu verdict_errors=%llu send_errors=%llu\n",
              mq::fault::to_string(scheduler.stats()).c_str(), static_cast<unsigned long long>(ctx.copied),
              static_cast<unsigned long long>(ctx.kept), static_cast<unsigned long long>(ctx.verdict_errors),
              static_cast<unsigned long long>(ctx.send_errors));
  std::fflush(stdout);
  return 0;
}

#include "dledger_cluster.h"

#include <set>

#include "codec/codes.h"

namespace mq::test {

using namespace std::chrono_literals;

DLedgerCluster::DLedgerCluster(const std::string& flush, const std::string& more, const std::string& group,
                               const std::string& cluster, const std::vector<std::string>& store_dirs,
                               int64_t mapped_file_size) {
  // Broker ports first (each with its fast and HA ports), then Raft and container ports none of
  // them uses: nothing is bound yet, so the probes alone cannot tell them apart.
  std::vector<int> broker_ports;
  std::set<int> taken;
  for (int i = 0; i < 3; ++i) {
    int p = free_broker_port();
    while (taken.count(p) || taken.count(p - 2) || taken.count(p + 1)) p = free_broker_port();
    broker_ports.push_back(p);
    taken.insert({p - 2, p, p + 1});
  }
  auto another_port = [&] {
    int p = free_port();
    while (taken.count(p)) p = free_port();
    taken.insert(p);
    return p;
  };
  std::string peers;
  for (int i = 0; i < 3; ++i) {
    int p = another_port();
    raft_ports.push_back(p);
    peers += (i ? ";" : "") + std::string("n") + std::to_string(i) + "-127.0.0.1:" + std::to_string(p);
  }
  for (int i = 0; i < 3; ++i) {
    BrokerSpec b{group, i, "ASYNC_MASTER", flush, broker_ports[static_cast<size_t>(i)],
                 "enableDLegerCommitLog=true\ndLegerGroup=" + group + "\ndLegerPeers=" + peers + "\ndLegerSelfId=n" +
                     std::to_string(i) + "\n" + more};
    b.mapped_file_size_commit_log = mapped_file_size;
    if (!store_dirs.empty()) b.store_dir = store_dirs[static_cast<size_t>(i)];
    nodes.push_back(std::make_unique<ContainerProcess>(ns.addr(), std::vector<BrokerSpec>{b},
                                                       dir.file("n" + std::to_string(i)), cluster, another_port()));
  }
}

nlohmann::json dledger_status(AdminClient& admin, ContainerProcess& c) {
  if (!c.proc().running()) return {};
  auto s = admin.container_status(c.admin_addr());
  if (!s.ok()) return {};
  auto j = nlohmann::json::parse(*s, nullptr, false);
  if (!j.is_object() || !j.contains("brokers") || j["brokers"].empty()) return {};
  auto& b = j["brokers"][0];
  return b.contains("dledger") ? b["dledger"] : nlohmann::json{};
}

int find_leader(AdminClient& admin, DLedgerCluster& c, int except) {
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    if (static_cast<int>(i) == except) continue;
    auto s = dledger_status(admin, *c.nodes[i]);
    if (s.is_object() && s.value("leaderReady", false)) return static_cast<int>(i);
  }
  return -1;
}

int64_t applied_index(AdminClient& admin, ContainerProcess& c) {
  auto s = dledger_status(admin, c);
  return s.is_object() ? s.value("appliedIndex", int64_t{-1}) : -1;
}

int64_t offset_of_msg_id(const std::string& id) {
  if (id.size() != 32) return -1;
  return static_cast<int64_t>(std::stoull(id.substr(16), nullptr, 16));
}

namespace {
std::vector<std::string> member_addrs(DLedgerCluster& c) {
  std::vector<std::string> out;
  for (size_t i = 0; i < c.nodes.size(); ++i) out.push_back(c.addr(i));
  return out;
}
}  // namespace

Sender::Sender(DLedgerCluster& c, std::string topic, int queues, size_t body_bytes)
    : Sender(member_addrs(c), std::move(topic), queues, body_bytes) {}

Sender::Sender(std::vector<std::string> addrs, std::string topic, int queues, size_t body_bytes)
    : addrs_(std::move(addrs)), topic_(std::move(topic)), queues_(queues), body_bytes_(body_bytes) {
  thread_ = std::thread([this] { run(); });
}

void Sender::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

size_t Sender::acked() {
  std::lock_guard g(mu_);
  return acks_.size();
}

std::vector<Ack> Sender::acks() {
  std::lock_guard g(mu_);
  return acks_;
}

std::optional<std::chrono::steady_clock::time_point> Sender::first_ack_after(std::chrono::steady_clock::time_point since,
                                                                             size_t old) {
  std::lock_guard g(mu_);
  for (const auto& [t, node] : ack_times_)
    if (t > since && node != old) return t;
  return std::nullopt;
}

void Sender::run() {
  BlockingClient client;
  size_t target = 0;
  for (int i = 0; !stop_; ++i) {
    int32_t queue = i % queues_;
    bool done = false;
    for (int attempt = 0; attempt < 3 * 200 && !done && !stop_; ++attempt) {
      std::string body = "dl-" + std::to_string(i) + "." + std::to_string(attempt) + "-";
      body.append(body_bytes_ > body.size() ? body_bytes_ - body.size() : static_cast<size_t>(i % 13) * 29, 'x');
      // RocketMQ's default send timeout: a frozen member costs a sender this much.
      auto s = send_message(client, addrs_[target], topic_, queue, body, "", 3000);
      if (s.code == response_code::kSuccess) {
        std::lock_guard g(mu_);
        acks_.push_back(Ack{body, s.queue_id, s.queue_offset, offset_of_msg_id(s.msg_id)});
        ack_times_.emplace_back(std::chrono::steady_clock::now(), target);
        done = true;
      } else {
        target = (target + 1) % addrs_.size();
        if (attempt % 3 == 2) std::this_thread::sleep_for(5ms);  // all three refused: wait a little
      }
    }
  }
}

}  // namespace mq::test

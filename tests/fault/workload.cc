#include "tests/fault/workload.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "client/client_common.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/route_data.h"
#include "codec/send_header.h"
#include "remoting/client.h"

namespace mq::fault {

namespace {

using nlohmann::json;

constexpr int64_t kRouteRefreshMs = 500;  // far below a real client's 30 s: we measure the brokers
constexpr int64_t kShunMs = 10000;         // how long an address whose request failed is avoided

// The address whose request just failed is avoided for a while when the NameServers name another
// (RocketMQ's sendLatencyFaultEnable does the same per broker): after a leader is cut off, a retry
// goes to the new leader instead of waiting out a second timeout on the old one.
struct Shun {
  std::string addr;
  int64_t until_ms = 0;
  // addrs[rotate % size] (addrs not empty), or the first other address while that one is avoided.
  const std::string& pick(const std::vector<std::string>& addrs, size_t rotate, int64_t now_ms) const {
    const std::string& chosen = addrs[rotate % addrs.size()];
    if (chosen != addr || now_ms >= until_ms) return chosen;
    for (const auto& a : addrs)
      if (a != addr) return a;
    return chosen;
  }
  void failed(const std::string& a, int64_t now_ms) {
    addr = a;
    until_ms = now_ms + kShunMs;
  }
};
constexpr int32_t kPullBatch = 32;

// Broker codes after which the message is certainly not stored. Anything else (SYSTEM_ERROR from a
// store that failed mid-write, a DLedger proposal that timed out, ...) may have been stored.
bool definitely_not_stored(int32_t code) {
  switch (code) {
    case response_code::kServiceNotAvailable:
    case response_code::kNoPermission:
    case response_code::kTopicNotExist:
    case response_code::kMessageIllegal:
    case response_code::kSystemBusy:
    case response_code::kRequestCodeNotSupported:
    case response_code::kVersionNotSupported:
    case response_code::kInvalidParameter:
      return true;
    default:
      return false;
  }
}

std::string key_of(int producer, int64_t seq) { return "p" + std::to_string(producer) + "-" + std::to_string(seq); }

}  // namespace

struct Workload::Impl {
  WorkloadOptions opt;
  History& history;

  std::atomic<bool> sending{false};
  std::atomic<bool> tailing{false};
  std::atomic<bool> routing{false};
  std::mutex wake_mu;
  std::condition_variable wake_cv;

  std::atomic<uint64_t> attempted{0}, acked{0}, failed{0}, unknown{0}, consumed{0}, drained{0};
  // Indexed by producer id (broker index * queues_per_broker + queue) and by broker index.
  std::unique_ptr<std::atomic<uint64_t>[]> acked_by_producer, consumed_by_group;

  // What one NameServer said last about the topic: brokerName -> brokerId -> address.
  struct NsView {
    std::map<std::string, std::map<int64_t, std::string>> addrs;
    int64_t at_ms = 0;  // 0: never answered
  };
  std::mutex route_mu;
  std::vector<NsView> views;

  std::vector<std::thread> route_threads, producer_threads, consumer_threads;

  Impl(WorkloadOptions o, History& h) : opt(std::move(o)), history(h) {
    size_t groups = opt.broker_names.size();
    acked_by_producer = std::make_unique<std::atomic<uint64_t>[]>(groups * static_cast<size_t>(opt.queues_per_broker));
    consumed_by_group = std::make_unique<std::atomic<uint64_t>[]>(groups);
  }

  // Sleeps up to `ms`, waking early once `running` turns false. Returns `running`.
  bool nap(int64_t ms, const std::atomic<bool>& running) {
    std::unique_lock lock(wake_mu);
    wake_cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return !running.load(); });
    return running.load();
  }
  void wake_all() {
    std::lock_guard lock(wake_mu);
    wake_cv.notify_all();
  }

  // --- routes -----------------------------------------------------------------------------
  // One thread per NameServer, so that one partitioned away (its calls time out) does not delay
  // what the others say.
  void route_loop(size_t index, std::string ns_addr) {
    BlockingClient rpc;
    while (routing.load()) {
      RemotingCommand req = RemotingCommand::request(request_code::kGetRouteinfoByTopic);
      req.ext_fields.set("topic", opt.topic);
      auto r = rpc.invoke(ns_addr, std::move(req), opt.rpc_timeout_ms);
      if (r.ok()) {
        NsView v;
        v.at_ms = history.now_ms();
        bool usable = false;
        if (r->code == response_code::kSuccess) {
          auto route = TopicRouteData::parse(r->body);
          if (route.ok()) {
            usable = true;
            for (const auto& bd : route->broker_datas) v.addrs[bd.broker_name] = bd.broker_addrs;
          }
        } else if (r->code == response_code::kTopicNotExist) {
          usable = true;  // every broker of the topic is gone: no addresses at all
        }
        if (usable) {
          std::lock_guard lock(route_mu);
          views[index] = std::move(v);
        }
      }
      nap(kRouteRefreshMs, routing);
    }
  }

  // Addresses of `group`'s master as the NameServers see it, the most recently heard first.
  // With `slaves`, the other members follow (read-only fallbacks). Views older than `since_ms` are
  // left out: the drain must not read from a member a NameServer named master before the heal
  // (an old DLedger leader, now a follower, would report a shorter max offset).
  std::vector<std::string> addrs_of(const std::string& group, bool slaves, int64_t since_ms = 0) {
    std::vector<std::pair<int64_t, const NsView*>> order;
    std::lock_guard lock(route_mu);
    for (const auto& v : views)
      if (v.at_ms > 0 && v.at_ms >= since_ms) order.emplace_back(v.at_ms, &v);
    std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    auto add = [&out](const std::string& a) {
      if (!a.empty() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    };
    for (auto& [at, v] : order) {
      auto g = v->addrs.find(group);
      if (g == v->addrs.end()) continue;
      auto m = g->second.find(0);
      if (m != g->second.end()) add(m->second);
    }
    if (slaves)
      for (auto& [at, v] : order) {
        auto g = v->addrs.find(group);
        if (g == v->addrs.end()) continue;
        for (auto& [id, a] : g->second)
          if (id != 0) add(a);
      }
    return out;
  }

  // --- producers --------------------------------------------------------------------------
  void producer_loop(int id, std::string group, int32_t queue) {
    BlockingClient rpc;
    UniqIdGenerator uniq(local_ipv4_address(), static_cast<uint32_t>(getpid()), id * 7919 + 17);
    std::mt19937 rng(static_cast<uint32_t>(id) * 2654435761u + 1);
    std::uniform_int_distribution<int64_t> backoff(50, 200);
    MessageQueue mq{opt.topic, group, queue};
    int64_t seq = 0;
    std::string uniq_key = uniq.next();  // kept across the retries of one seq, as Java's msgId
    size_t rotate = 0;
    Shun shun;
    while (sending.load()) {
      auto addrs = addrs_of(group, false);
      if (addrs.empty()) {  // no master known: nothing was sent, so nothing to record
        nap(backoff(rng), sending);
        continue;
      }
      const std::string addr = shun.pick(addrs, rotate, history.now_ms());
      std::string key = key_of(id, seq);
      int64_t start = history.now_ms();
      history.write(json{{"t", start}, {"f", "send"}, {"type", "invoke"}, {"proc", id}, {"topic", opt.topic},
                         {"broker", group}, {"queue", queue}, {"key", key}, {"seq", seq}, {"addr", addr}});
      ++attempted;

      Message m;
      m.topic = opt.topic;
      m.keys = key;
      m.tags = "fault";
      SendMessageRequestHeader h;
      h.producer_group = "FaultProducer";
      h.topic = opt.topic;
      h.queue_id = queue;
      h.born_timestamp = start;
      h.properties = build_message_properties(m, uniq_key);
      auto r = rpc.invoke(addr, make_send_request(std::move(h), key + " fault-workload"), opt.send_timeout_ms);

      json row{{"f", "send"}, {"proc", id}, {"topic", opt.topic}, {"broker", group}, {"queue", queue},
               {"key", key}, {"seq", seq}, {"start", start}, {"addr", addr}};
      bool ok = false;
      if (!r.ok()) {
        // A connection that never opened carried nothing; a timeout or a connection lost with the
        // request written (or queued) may have stored it.
        bool definite = r.code() == RpcError::kConnectFailed || r.code() == RpcError::kBadAddress;
        row["type"] = definite ? "fail" : "unknown";
        row["detail"] = std::string(rpc_error_name(r.code())) + ": " + r.detail();
      } else {
        auto res = parse_send_response(*r, mq, uniq_key);
        if (res.ok()) {
          ok = true;
          row["type"] = "ok";
          row["offset"] = res->queue_offset;
          row["status"] = send_status_name(res->status);
          if (res->queue.queue_id != queue) row["detail"] = "stored in queue " + std::to_string(res->queue.queue_id);
        } else {
          bool definite = res.code().kind == ClientFailure::kBroker && definitely_not_stored(res.code().response_code);
          row["type"] = definite ? "fail" : "unknown";
          row["code"] = res.code().response_code;
          row["detail"] = res.detail();
        }
      }
      if (row["type"] == "fail") ++failed;
      if (row["type"] == "unknown") ++unknown;
      history.write(std::move(row));
      if (ok) {
        ++acked;
        ++acked_by_producer[static_cast<size_t>(id)];
        ++seq;
        uniq_key = uniq.next();
        if (opt.send_interval_ms > 0) nap(opt.send_interval_ms, sending);
      } else {
        ++rotate;  // the next candidate address (a stale NameServer view may name a dead master)
        shun.failed(addr, history.now_ms());
        nap(backoff(rng), sending);
      }
    }
  }

  // --- pulls ------------------------------------------------------------------------------
  ClientOutcome<PullResult> pull(BlockingClient& rpc, RemotingCommand& keep, const std::string& addr, int32_t queue,
                                 int64_t offset, int32_t max_msgs) {
    PullRequestHeader h;
    h.consumer_group = opt.consumer_group;
    h.topic = opt.topic;
    h.queue_id = queue;
    h.queue_offset = offset;
    h.max_msg_nums = max_msgs;
    h.sys_flag = pull_sysflag::kSubscription;
    h.suspend_timeout_ms = 0;  // never held: a drain or a tail must not wait 15 s on an empty queue
    h.subscription = "*";
    auto resp = rpc.invoke(addr, make_pull_request(h), opt.pull_timeout_ms);
    if (!resp.ok()) return client_error(ClientFailure::kRpc, "pull from " + addr + ": " + resp.detail());
    keep = std::move(*resp);  // the records are views into its body
    return parse_pull_response(keep);
  }

  // GET_MIN_OFFSET / GET_MAX_OFFSET of one queue.
  std::optional<int64_t> queue_offset(BlockingClient& rpc, const std::string& addr, int32_t code, int32_t queue) {
    RemotingCommand req = RemotingCommand::request(code);
    req.ext_fields.set("topic", opt.topic);
    req.ext_fields.set("queueId", queue);
    auto r = rpc.invoke(addr, std::move(req), opt.rpc_timeout_ms);
    if (!r.ok() || r->code != response_code::kSuccess) return std::nullopt;
    HeaderReader h(r->ext_fields);
    int64_t v = h.i64("offset");
    if (!h.ok()) return std::nullopt;
    return v;
  }

  static std::string key_in(const MessageRecord& rec) {
    auto k = find_property(rec.properties, property::kKeys);
    if (k) return std::string(*k);
    // No KEYS: the body's first token is the key.
    std::string_view b = rec.body;
    return std::string(b.substr(0, b.find(' ')));
  }

  // One thread per group: reads its queues as they grow, from the master or, without one, a slave
  // (as a RocketMQ consumer would), writing "consume" rows. Only the unavailability checker uses them.
  void consumer_loop(size_t group_index, std::string group) {
    BlockingClient rpc;
    std::vector<int64_t> next(static_cast<size_t>(opt.queues_per_broker), 0);
    size_t rotate = 0;
    std::string proc = "c-" + group;
    int64_t last_fail_note_ms = 0;
    Shun shun;  // as the producers: a member whose pull failed is avoided for a while
    while (tailing.load()) {
      auto addrs = addrs_of(group, true);
      if (addrs.empty()) {
        nap(100, tailing);
        continue;
      }
      const std::string addr = shun.pick(addrs, rotate, history.now_ms());
      bool progressed = false, failed_pull = false;
      for (int32_t q = 0; q < opt.queues_per_broker && tailing.load(); ++q) {
        RemotingCommand keep;
        auto pr = pull(rpc, keep, addr, q, next[q], kPullBatch);
        if (!pr.ok()) {
          // At most one note per second per group: enough to see in the history why reads stalled.
          int64_t now = history.now_ms();
          if (now - last_fail_note_ms >= 1000) {
            last_fail_note_ms = now;
            history.write(json{{"t", now}, {"f", "note"}, {"type", "info"}, {"proc", proc}, {"broker", group},
                               {"queue", q}, {"addr", addr}, {"detail", "tail pull failed: " + pr.detail()}});
          }
          failed_pull = true;
          break;
        }
        if (pr->status == PullResult::kFound) {
          int64_t now = history.now_ms();
          for (const auto& rec : pr->records) {
            history.write(json{{"t", now}, {"f", "consume"}, {"type", "ok"}, {"proc", proc}, {"topic", opt.topic},
                               {"broker", group}, {"queue", q}, {"offset", rec.queue_offset}, {"key", key_in(rec)},
                               {"born", rec.born_timestamp}, {"addr", addr}});
            ++consumed;
            ++consumed_by_group[group_index];
          }
          progressed = true;
        }
        // FOUND, NO_NEW_MSG and OFFSET_MOVED all say where to go on (RocketMQ's consumer does the same).
        if (pr->next_begin_offset != next[q]) progressed = true;
        next[q] = pr->next_begin_offset;
      }
      if (failed_pull) {
        ++rotate;
        shun.failed(addr, history.now_ms());
        nap(100, tailing);
      } else if (!progressed) {
        // A slave without slaveReadEnable answers PULL_RETRY_IMMEDIATELY (suggesting the master)
        // while it can reach its master: go back to the master, as RocketMQ's consumer does.
        if (rotate % addrs.size() != 0) rotate = 0;
        nap(20, tailing);
      }
    }
  }

  // --- drain --------------------------------------------------------------------------------
  struct QueueDrain {
    std::string group;
    int32_t queue = 0;
    int64_t min = -1, max = -1, offset = -1;
    int64_t read = 0;
    bool done = false;
    std::string last_error;
  };

  // Reads one queue to its end, or until the deadline. Returns true when done.
  bool drain_queue(BlockingClient& rpc, QueueDrain& st, int64_t since_ms, int64_t deadline_ms,
                   uint64_t& sabotage_counter) {
    std::set<int64_t> recorded;  // a pull repeated after an error must not make duplicates
    size_t rotate = 0;
    bool max_fresh = false;  // `max` was read after the last read that reached it
    while (history.now_ms() < deadline_ms) {
      auto addrs = addrs_of(st.group, opt.drain_from_slave, since_ms);
      if (addrs.empty()) {
        st.last_error = "no master in a route fetched since the drain began";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      const std::string& addr = addrs[rotate % addrs.size()];
      auto retry = [&](std::string why) {
        st.last_error = addr + ": " + why;
        ++rotate;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      };
      if (st.offset < 0) {
        auto min = queue_offset(rpc, addr, request_code::kGetMinOffset, st.queue);
        if (!min) {
          retry("GET_MIN_OFFSET failed");
          continue;
        }
        st.min = st.offset = *min;
      }
      if (st.max < 0 || st.offset >= st.max) {
        auto max = queue_offset(rpc, addr, request_code::kGetMaxOffset, st.queue);
        if (!max) {
          retry("GET_MAX_OFFSET failed");
          continue;
        }
        st.max = *max;
        max_fresh = true;
      }
      // Done only against a max offset asked for after the reads reached the previous one.
      if (st.offset >= st.max && max_fresh) return st.done = true;
      RemotingCommand keep;
      auto pr = pull(rpc, keep, addr, st.queue, st.offset,
                     static_cast<int32_t>(std::min<int64_t>(kPullBatch, std::max<int64_t>(1, st.max - st.offset))));
      if (!pr.ok()) {
        retry(pr.detail());
        continue;
      }
      switch (pr->status) {
        case PullResult::kFound: {
          int64_t now = history.now_ms();
          int64_t last = st.offset - 1;
          for (const auto& rec : pr->records) {
            last = std::max(last, rec.queue_offset);
            if (rec.queue_offset < st.offset || !recorded.insert(rec.queue_offset).second) continue;
            ++st.read;
            if (opt.sabotage_drop_drained_every > 0 &&
                ++sabotage_counter % static_cast<uint64_t>(opt.sabotage_drop_drained_every) == 0)
              continue;  // the deliberate defect: this message is read and forgotten
            std::string key = key_in(rec);
            history.write(json{{"t", now}, {"f", "drain"}, {"type", "ok"}, {"proc", "drain"}, {"topic", opt.topic},
                               {"broker", st.group}, {"queue", st.queue}, {"offset", rec.queue_offset}, {"key", key},
                               {"addr", addr}});
            ++drained;
          }
          st.offset = std::max(pr->next_begin_offset, last + 1);
          max_fresh = false;
          break;
        }
        case PullResult::kNoNewMsg:
        case PullResult::kNoMatchedMsg:
          if (pr->next_begin_offset > st.offset) {
            st.offset = pr->next_begin_offset;
          } else {
            // The broker has nothing readable at an offset below the max it reported (a follower
            // catching up, a commit in progress): ask for the max again after a short pause.
            st.max = -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
          max_fresh = false;
          break;
        case PullResult::kOffsetIllegal:
          // The offset is outside [min, max] of the broker now: go where it says, and say so, since
          // a jump forward skips messages (lost if acknowledged) and a jump back means the queue
          // shrank under us (a new leader with a shorter log).
          history.write(json{{"f", "drain"}, {"type", "info"}, {"proc", "drain"}, {"broker", st.group},
                             {"queue", st.queue}, {"detail", "offset moved"}, {"from", st.offset},
                             {"to", pr->next_begin_offset}, {"addr", addr}});
          st.offset = pr->next_begin_offset;
          st.max = -1;
          max_fresh = false;
          break;
      }
    }
    return false;
  }

  bool drain(std::chrono::milliseconds timeout) {
    int64_t since = history.now_ms();
    int64_t deadline = since + timeout.count();
    BlockingClient rpc;
    uint64_t sabotage_counter = 0;
    std::vector<QueueDrain> queues;
    for (const auto& g : opt.broker_names)
      for (int32_t q = 0; q < opt.queues_per_broker; ++q) {
        QueueDrain st;
        st.group = g;
        st.queue = q;
        queues.push_back(std::move(st));
      }
    history.write(json{{"f", "drain"}, {"type", "info"}, {"proc", "drain"}, {"detail", "start"},
                       {"queues", queues.size()}, {"sabotage_drop_drained_every", opt.sabotage_drop_drained_every}});
    bool all = true;
    json summary = json::array();
    for (auto& st : queues) {
      if (!drain_queue(rpc, st, since, deadline, sabotage_counter)) all = false;
      summary.push_back(json{{"broker", st.group}, {"queue", st.queue}, {"min", st.min}, {"max", st.max},
                             {"read", st.read}, {"done", st.done}, {"error", st.done ? "" : st.last_error}});
    }
    history.write(json{{"f", "drain"}, {"type", "info"}, {"proc", "drain"}, {"detail", all ? "done" : "timeout"},
                       {"queues", summary}});
    return all;
  }

  void join(std::vector<std::thread>& ts) {
    for (auto& t : ts)
      if (t.joinable()) t.join();
    ts.clear();
  }
};

Workload::Workload(WorkloadOptions options, History& history)
    : impl_(std::make_unique<Impl>(std::move(options), history)) {}

Workload::~Workload() { stop(); }

void Workload::start() {
  Impl& w = *impl_;
  auto ns = split_addr_list(w.opt.namesrv_addr);
  w.views.assign(ns.size(), Impl::NsView{});
  w.routing = true;
  for (size_t i = 0; i < ns.size(); ++i) w.route_threads.emplace_back([&w, i, a = ns[i]] { w.route_loop(i, a); });
  w.history.write(json{{"f", "note"}, {"type", "info"}, {"detail", "workload start"}, {"topic", w.opt.topic},
                       {"brokers", w.opt.broker_names}, {"queues_per_broker", w.opt.queues_per_broker}});
  w.sending = true;
  int id = 0;
  for (const auto& g : w.opt.broker_names)
    for (int32_t q = 0; q < w.opt.queues_per_broker; ++q, ++id)
      w.producer_threads.emplace_back([&w, id, g, q] { w.producer_loop(id, g, q); });
  if (w.opt.tail_consumers) {
    w.tailing = true;
    for (size_t i = 0; i < w.opt.broker_names.size(); ++i)
      w.consumer_threads.emplace_back([&w, i, g = w.opt.broker_names[i]] { w.consumer_loop(i, g); });
  }
}

void Workload::stop_sending() {
  Impl& w = *impl_;
  w.sending = false;
  w.wake_all();
  w.join(w.producer_threads);
}

bool Workload::drain(std::chrono::milliseconds timeout) {
  Impl& w = *impl_;
  stop_sending();
  w.tailing = false;
  w.wake_all();
  w.join(w.consumer_threads);
  if (w.route_threads.empty()) {  // drain without start(): routes are needed all the same
    auto ns = split_addr_list(w.opt.namesrv_addr);
    w.views.assign(ns.size(), Impl::NsView{});
    w.routing = true;
    for (size_t i = 0; i < ns.size(); ++i) w.route_threads.emplace_back([&w, i, a = ns[i]] { w.route_loop(i, a); });
  }
  return w.drain(timeout);
}

void Workload::stop() {
  Impl& w = *impl_;
  w.sending = false;
  w.tailing = false;
  w.routing = false;
  w.wake_all();
  w.join(w.producer_threads);
  w.join(w.consumer_threads);
  w.join(w.route_threads);
}

WorkloadCounters Workload::counters() const {
  const Impl& w = *impl_;
  WorkloadCounters c;
  c.attempted = w.attempted.load();
  c.acked = w.acked.load();
  c.failed = w.failed.load();
  c.unknown = w.unknown.load();
  c.consumed = w.consumed.load();
  c.drained = w.drained.load();
  size_t q = static_cast<size_t>(w.opt.queues_per_broker);
  bool first = true;
  for (size_t g = 0; g < w.opt.broker_names.size(); ++g) {
    uint64_t sum = 0;
    for (size_t i = 0; i < q; ++i) {
      uint64_t a = w.acked_by_producer[g * q + i].load();
      sum += a;
      c.min_acked_per_producer = first ? a : std::min(c.min_acked_per_producer, a);
      first = false;
    }
    c.acked_by_broker[w.opt.broker_names[g]] = sum;
    c.consumed_by_broker[w.opt.broker_names[g]] = w.consumed_by_group[g].load();
  }
  return c;
}

std::string Workload::progress_line() const {
  auto c = counters();
  return "attempted=" + std::to_string(c.attempted) + " acked=" + std::to_string(c.acked) +
         " failed=" + std::to_string(c.failed) + " unknown=" + std::to_string(c.unknown) +
         " consumed=" + std::to_string(c.consumed) + " drained=" + std::to_string(c.drained);
}

const WorkloadOptions& Workload::options() const { return impl_->opt; }

}  // namespace mq::fault

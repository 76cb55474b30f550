#include "broker/timer_service.h"

#include "broker/schedule_service.h"

#include <algorithm>
#include <bit>

#include "codec/message.h"

namespace mq {

TimerMessageService::TimerMessageService(store::MessageStore& store, EventLoop& loop, const Clock& clock, Logger log,
                                         HostAddress self, PutFn put, PersistFn persist)
    : store_(store),
      loop_(loop),
      clock_(clock),
      log_(std::move(log)),
      self_(self),
      put_(std::move(put)),
      persist_(std::move(persist)),
      timer_(loop) {
  for (int32_t q = 0; q <= kBuckets; ++q) queues_[q] = Queue{};
}

TimerMessageService::~TimerMessageService() { timer_.stop(); }

bool TimerMessageService::load(const std::string& text, std::string* error) {
  if (text.empty()) return true;
  auto loaded = parse_offset_table(text, 0, kBuckets, "queue", error);
  if (!loaded) return false;
  for (const auto& [q, offset] : *loaded) queues_[q].offset = offset;
  return true;
}

std::string TimerMessageService::encode() const {
  std::map<int32_t, int64_t> offsets;
  for (const auto& [q, st] : queues_) offsets[q] = st.offset;
  for (const auto& [when, h] : held_) offsets[h.queue_id] = std::min(offsets[h.queue_id], h.queue_offset);
  for (const auto& [when, h] : held_sending_) offsets[h.queue_id] = std::min(offsets[h.queue_id], h.queue_offset);
  return encode_offset_table(offsets);
}

void TimerMessageService::start() {
  if (running_) return;
  running_ = true;
  for (auto& [q, st] : queues_) {
    st.in_flight = false;
    st.next_due_ms = -1;
  }
  timer_.start(0, 0, [this] { wake(); });
}

void TimerMessageService::stop() {
  if (!running_) return;
  running_ = false;
  ++generation_;
  timer_.stop();
  for (auto& [q, st] : queues_) st.in_flight = false;
  persist_(encode());  // held entries keep their queues' offsets before them
  held_.clear();
  held_sending_.clear();
  held_in_flight_ = false;
  dirty_ = false;
}

void TimerMessageService::persist_if_changed() {
  if (!dirty_) return;
  dirty_ = false;
  persist_(encode());
}

void TimerMessageService::wake() {
  if (!running_) return;
  const int64_t now = std::max(clock_.now_ms(), last_now_ms_);
  last_now_ms_ = now;
  bool capped = false;
  in_wake_ = true;
  deliver_held(now);
  for (auto& [qid, q] : queues_)
    if (!q.in_flight && !run_queue(qid, q, now)) capped = true;
  in_wake_ = false;
  if (capped) return timer_.start(0, 0, [this] { wake(); });
  arm();
}

void TimerMessageService::arm() {
  if (!running_) return;
  const int64_t now = clock_.now_ms();
  int64_t wait_ms = kPollIntervalMs;
  for (const auto& [qid, q] : queues_)
    if (!q.in_flight && q.next_due_ms >= 0) wait_ms = std::min(wait_ms, std::max<int64_t>(q.next_due_ms - now, 0));
  if (!held_.empty() && !held_in_flight_) wait_ms = std::min(wait_ms, std::max<int64_t>(held_.begin()->first - now, 0));
  timer_.start(static_cast<uint64_t>(wait_ms), 0, [this] { wake(); });
}

TimerMessageService::Routed TimerMessageService::route(int64_t commit_log_offset, int32_t size, int64_t deliver_ms,
                                                      int64_t now_ms, int32_t queue_id, int64_t queue_offset,
                                                      std::vector<store::MessageToStore>& out) {
  const int64_t left_ms = deliver_ms - now_ms;
  if (left_ms > 0 && left_ms < kHoldMs) {
    held_.emplace(deliver_ms, Held{commit_log_offset, size, queue_id, queue_offset});
    return Routed::kHeld;
  }
  if (left_ms > 0) {
    // Bucket k = floor(log2(left)): looked at again in 2^k ms, when less than 2^k ms are left.
    int k = std::min<int>(63 - std::countl_zero(static_cast<uint64_t>(left_ms)), kBuckets - 1);
    store::MessageToStore m;
    m.topic = kTimerTopic;
    m.queue_id = k + 1;
    m.body = std::to_string(commit_log_offset) + "," + std::to_string(size) + "," + std::to_string(deliver_ms);
    m.born_timestamp = now_ms;
    m.born_host = self_;
    m.store_host = self_;
    m.properties = encode_properties({{std::string(property::kTimerCheckMs), std::to_string(now_ms + (int64_t{1} << k))},
                                      {std::string(property::kWaitStoreMsgOk), "false"}});
    out.push_back(std::move(m));
    return Routed::kOutput;
  }
  return delivery(commit_log_offset, size, now_ms, out) ? Routed::kOutput : Routed::kSkipped;
}

bool TimerMessageService::delivery(int64_t commit_log_offset, int32_t size, int64_t now_ms,
                                   std::vector<store::MessageToStore>& out) {
  store::MessageToStore m;
  auto bytes = store_.read_record(commit_log_offset, size);
  if (!bytes.ok()) {
    log_.error("timed message at " + std::to_string(commit_log_offset) + " cannot be read: " + bytes.detail() + "; skipped");
    return false;
  }
  auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false});
  auto real_topic = rec.ok() ? find_property(rec->properties, property::kRealTopic) : std::nullopt;
  auto real_qid = rec.ok() ? parse_property_int(find_property(rec->properties, property::kRealQueueId).value_or(""))
                           : std::nullopt;
  if (!rec.ok() || !real_topic || real_topic->empty() || !real_qid || *real_qid > 65535) {
    log_.error("timed message at " + std::to_string(commit_log_offset) + " cannot be delivered (" +
               (rec.ok() ? "no REAL_TOPIC/REAL_QID" : rec.detail()) + "); skipped");
    return false;
  }
  m.topic = std::string(*real_topic);
  m.queue_id = static_cast<int32_t>(*real_qid);
  m.flag = rec->flag;
  m.body = std::string(rec->body);
  m.sys_flag = rec->sys_flag;
  m.born_timestamp = rec->born_timestamp;
  m.born_host = rec->born_host;
  m.store_host = rec->store_host;
  m.reconsume_times = rec->reconsume_times;
  m.properties = edit_properties(rec->properties, {{std::string(property::kTimerDequeueMs), std::to_string(now_ms)}});
  out.push_back(std::move(m));
  return true;
}

void TimerMessageService::deliver_held(int64_t now_ms) {
  if (held_in_flight_ || held_.empty() || held_.begin()->first > now_ms) return;
  std::vector<store::MessageToStore> out;
  std::vector<std::pair<int64_t, Held>> taken;
  while (!held_.empty() && held_.begin()->first <= now_ms && static_cast<int>(out.size()) < kMaxPerWake) {
    auto it = held_.begin();
    if (delivery(it->second.commit_log_offset, it->second.size, now_ms, out)) taken.emplace_back(it->first, it->second);
    held_.erase(it);
  }
  if (out.empty()) return;
  // Until stored, the taken entries keep their queues' persisted offsets before them (encode()).
  held_sending_ = taken;
  held_in_flight_ = true;
  const uint64_t generation = generation_;
  std::weak_ptr<bool> alive = alive_;
  put_(std::move(out), [this, alive, generation](size_t stored) {
    if (alive.expired() || generation != generation_) return;
    held_in_flight_ = false;
    auto sending = std::exchange(held_sending_, {});
    for (size_t i = stored; i < sending.size(); ++i) held_.emplace(sending[i].first, sending[i].second);  // again
    const size_t taken_count = sending.size();
    delivered_ += stored;
    dirty_ = true;
    if (stored < taken_count)
      log_.warn(std::to_string(taken_count - stored) + " timed messages not stored, trying again");
    if (!in_wake_ && running_) arm();
  });
}

bool TimerMessageService::run_queue(int32_t queue_id, Queue& q, int64_t now_ms) {
  q.next_due_ms = -1;
  std::vector<store::MessageToStore> out;
  std::vector<int64_t> offset_after;
  int64_t next_offset = q.offset;
  while (static_cast<int>(out.size()) < kMaxPerWake) {
    store::GetMessageResult got = store_.get_message(kTimerTopic, queue_id, next_offset, 256, 8 << 20);
    using S = store::GetMessageStatus;
    if (got.status != S::kFound) {
      if ((got.status == S::kOffsetTooSmall || got.status == S::kOffsetOverflowBadly ||
           got.status == S::kOffsetFoundNull || got.status == S::kMessageWasRemoving) &&
          got.next_begin_offset != next_offset && out.empty()) {
        log_.warn("timer queue " + std::to_string(queue_id) + ": offset " + std::to_string(next_offset) + " is " +
                  store::get_message_status_name(got.status) + ", continuing at " + std::to_string(got.next_begin_offset));
        q.offset = next_offset = got.next_begin_offset;
        dirty_ = true;
        continue;
      }
      break;
    }
    bool stop = false;
    for (const auto& ref : got.messages) {
      int64_t deliver_ms = ref.tags_code;
      int64_t parked_offset = ref.commit_log_offset;
      int32_t parked_size = ref.size;
      if (queue_id > 0) {
        // A bucket entry: due when its check time has come.
        if (ref.tags_code > now_ms) {
          q.next_due_ms = ref.tags_code;
          stop = true;
          break;
        }
        auto rec = decode_record(std::string_view(got.buffer).substr(ref.buffer_position, static_cast<size_t>(ref.size)),
                                 DecodeOptions{.check_crc = false});
        std::string_view body = rec.ok() ? rec->body : std::string_view{};
        size_t c1 = body.find(','), c2 = c1 == std::string_view::npos ? c1 : body.find(',', c1 + 1);
        auto off = c1 == std::string_view::npos ? std::nullopt : parse_property_int(body.substr(0, c1));
        auto size = c2 == std::string_view::npos ? std::nullopt : parse_property_int(body.substr(c1 + 1, c2 - c1 - 1));
        auto when = c2 == std::string_view::npos ? std::nullopt : parse_property_int(body.substr(c2 + 1));
        if (!off || !size || !when || *size > INT32_MAX) {
          log_.error("timer bucket " + std::to_string(queue_id - 1) + ": entry at queue offset " +
                     std::to_string(ref.queue_offset) + " is not \"offset,size,time\"; skipped");
          next_offset = ref.queue_offset + 1;
          if (out.empty()) {
            q.offset = next_offset;
            dirty_ = true;
          } else {
            offset_after.back() = next_offset;
          }
          continue;
        }
        parked_offset = *off;
        parked_size = static_cast<int32_t>(*size);
        deliver_ms = *when;
      }
      next_offset = ref.queue_offset + 1;
      Routed routed = route(parked_offset, parked_size, deliver_ms, now_ms, queue_id, ref.queue_offset, out);
      if (routed == Routed::kOutput) {
        offset_after.push_back(next_offset);
      } else if (out.empty()) {
        q.offset = next_offset;
        dirty_ = true;
      } else {
        offset_after.back() = next_offset;
      }
      if (static_cast<int>(out.size()) >= kMaxPerWake) break;
    }
    if (stop || got.messages.empty()) break;
  }
  if (out.empty()) return true;
  const bool capped = static_cast<int>(out.size()) >= kMaxPerWake;
  q.in_flight = true;
  const uint64_t generation = generation_;
  std::weak_ptr<bool> alive = alive_;
  const size_t count = out.size();
  size_t deliveries = 0;
  for (const auto& m : out)
    if (m.topic != kTimerTopic) ++deliveries;
  put_(std::move(out), [this, alive, generation, queue_id, count, deliveries, offset_after = std::move(offset_after)](size_t stored) {
    if (alive.expired() || generation != generation_) return;
    Queue& st = queues_[queue_id];
    st.in_flight = false;
    if (stored == count) delivered_ += deliveries;
    if (stored > 0) {
      st.offset = offset_after[stored - 1];
      dirty_ = true;
    }
    st.next_due_ms = stored < count ? clock_.now_ms() + kPollIntervalMs : clock_.now_ms();
    if (stored < count)
      log_.warn("timer queue " + std::to_string(queue_id) + ": " + std::to_string(count - stored) +
                " entries not stored, trying again in " + std::to_string(kPollIntervalMs) + " ms");
    if (!in_wake_ && running_) arm();
  });
  return !capped;
}

}  // namespace mq

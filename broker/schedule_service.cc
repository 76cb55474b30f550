#include "broker/schedule_service.h"

#include <algorithm>

#include "codec/fastjson.h"
#include "codec/message.h"

namespace mq {

ScheduleMessageService::ScheduleMessageService(EventLoop& loop, store::MessageStore& store, const Clock& clock,
                                               Logger log, PutFn put, PersistFn persist)
    : loop_(loop),
      store_(store),
      clock_(clock),
      log_(std::move(log)),
      put_(std::move(put)),
      persist_(std::move(persist)),
      timer_(loop) {
  for (int level = 1; level <= levels(); ++level) levels_[level] = Level{};
}

ScheduleMessageService::~ScheduleMessageService() { timer_.stop(); }

std::optional<std::map<int32_t, int64_t>> parse_offset_table(const std::string& text, int32_t min_key, int32_t max_key,
                                                             const char* key_name, std::string* error) {
  auto parsed = parse_fastjson(text);
  if (!parsed.ok() || !parsed->is_object() || !parsed->contains("offsetTable") ||
      !(*parsed)["offsetTable"].is_object()) {
    if (error) *error = std::string("not {\"offsetTable\":{<") + key_name + ">:<offset>,...}}";
    return std::nullopt;
  }
  std::map<int32_t, int64_t> loaded;
  for (const auto& [key, value] : (*parsed)["offsetTable"].items()) {
    auto k = parse_property_int(key);
    if (!k || *k < min_key || *k > max_key || !value.is_number_integer()) {
      if (error) *error = "bad entry \"" + key + "\" in offsetTable";
      return std::nullopt;
    }
    loaded[static_cast<int32_t>(*k)] = std::max<int64_t>(value.get<int64_t>(), 0);
  }
  return loaded;
}

std::string encode_offset_table(const std::map<int32_t, int64_t>& offsets) {
  nlohmann::json table = nlohmann::json::object();
  for (const auto& [key, offset] : offsets) table[std::to_string(key)] = offset;
  return dump_fastjson(nlohmann::json{{"offsetTable", table}}, {"offsetTable"});
}

bool ScheduleMessageService::load(const std::string& text, std::string* error) {
  if (text.empty()) return true;
  auto loaded = parse_offset_table(text, 1, 1000000, "level", error);
  if (!loaded) return false;
  for (const auto& [level, offset] : *loaded) levels_[level].offset = offset;
  return true;
}

std::string ScheduleMessageService::encode() const {
  std::map<int32_t, int64_t> offsets;
  for (const auto& [level, lv] : levels_) offsets[level] = lv.offset;
  return encode_offset_table(offsets);
}

int64_t ScheduleMessageService::offset_of_level(int level) const {
  auto it = levels_.find(level);
  return it == levels_.end() ? 0 : it->second.offset;
}

void ScheduleMessageService::start() {
  if (running_) return;
  running_ = true;
  for (auto& [level, lv] : levels_) {
    lv.in_flight = false;
    lv.next_due_ms = -1;
  }
  log_.info("schedule service started: " + std::to_string(levels()) + " delay levels, progress " + encode());
  timer_.start(0, 0, [this] { wake(); });
}

void ScheduleMessageService::stop() {
  if (!running_) return;
  running_ = false;
  ++generation_;
  timer_.stop();
  for (auto& [level, lv] : levels_) lv.in_flight = false;
  persist_(encode());
  dirty_ = false;
  log_.info("schedule service stopped, progress " + encode());
}

void ScheduleMessageService::persist_if_changed() {
  if (!dirty_) return;
  dirty_ = false;
  persist_(encode());
}

void ScheduleMessageService::wake() {
  if (!running_) return;
  const int64_t now = clock_.now_ms();
  bool capped = false;
  in_wake_ = true;
  const int n = levels();
  for (auto& [level, lv] : levels_) {
    if (level > n || lv.in_flight) continue;
    if (!run_level(level, lv, now)) capped = true;
  }
  in_wake_ = false;
  if (capped) {
    timer_.start(0, 0, [this] { wake(); });  // more is due: let the loop serve I/O first
    return;
  }
  arm();
}

void ScheduleMessageService::arm() {
  if (!running_) return;
  const int64_t now = clock_.now_ms();
  int64_t wait_ms = kPollIntervalMs;
  for (const auto& [level, lv] : levels_)
    if (!lv.in_flight && lv.next_due_ms >= 0) wait_ms = std::min(wait_ms, std::max<int64_t>(lv.next_due_ms - now, 0));
  timer_.start(static_cast<uint64_t>(wait_ms), 0, [this] { wake(); });
}

bool ScheduleMessageService::run_level(int level, Level& lv, int64_t now_ms) {
  const int32_t queue_id = level - 1;
  const int64_t delay_ms = store_.delay_level_ms()[static_cast<size_t>(level - 1)];
  lv.next_due_ms = -1;
  std::vector<store::MessageToStore> due;
  int64_t next_offset = lv.offset;  // where the level continues once `due` is stored
  std::vector<int64_t> offset_after;  // queue offset following each due message
  while (static_cast<int>(due.size()) < kMaxPerWake) {
    store::GetMessageResult got = store_.get_message(kScheduleTopic, queue_id, next_offset, 256, 8 << 20);
    using S = store::GetMessageStatus;
    if (got.status != S::kFound) {
      if (got.status == S::kOffsetTooSmall || got.status == S::kOffsetOverflowBadly ||
          got.status == S::kOffsetFoundNull || got.status == S::kMessageWasRemoving) {
        if (got.next_begin_offset != next_offset) {
          log_.warn("delay level " + std::to_string(level) + ": offset " + std::to_string(next_offset) + " is " +
                    store::get_message_status_name(got.status) + ", continuing at " +
                    std::to_string(got.next_begin_offset));
          if (due.empty()) {
            lv.offset = got.next_begin_offset;
            dirty_ = true;
          }
          next_offset = got.next_begin_offset;
          continue;
        }
      }
      break;
    }
    bool stop = false;
    for (const auto& ref : got.messages) {
      int64_t deliver_ms = ref.tags_code;
      if (deliver_ms > now_ms + delay_ms) deliver_ms = now_ms;  // the clock went back
      if (deliver_ms > now_ms) {
        lv.next_due_ms = deliver_ms;
        stop = true;
        break;
      }
      next_offset = ref.queue_offset + 1;
      auto rec = decode_record(std::string_view(got.buffer).substr(ref.buffer_position, static_cast<size_t>(ref.size)),
                               DecodeOptions{.check_crc = false});
      std::optional<std::string_view> real_topic, real_qid;
      if (rec.ok()) {
        real_topic = find_property(rec->properties, property::kRealTopic);
        real_qid = find_property(rec->properties, property::kRealQueueId);
      }
      int32_t qid = -1;
      if (real_qid) {
        qid = 0;
        for (char c : *real_qid) {
          if (c < '0' || c > '9' || qid > 100000) {
            qid = -1;
            break;
          }
          qid = qid * 10 + (c - '0');
        }
      }
      if (!rec.ok() || !real_topic || real_topic->empty() || qid < 0) {
        // Nothing can deliver it; RocketMQ logs and moves on too.
        log_.error("delay level " + std::to_string(level) + ": message at queue offset " +
                   std::to_string(ref.queue_offset) + " cannot be delivered (" +
                   (rec.ok() ? "no REAL_TOPIC/REAL_QID" : rec.detail()) + "), skipped");
        if (due.empty()) {
          lv.offset = next_offset;
          dirty_ = true;
        } else {
          offset_after.back() = next_offset;
        }
        continue;
      }
      store::MessageToStore m;
      m.topic = std::string(*real_topic);
      m.queue_id = qid;
      m.flag = rec->flag;
      m.body = std::string(rec->body);
      m.sys_flag = rec->sys_flag;
      m.born_timestamp = rec->born_timestamp;
      m.born_host = rec->born_host;
      m.store_host = rec->store_host;
      m.reconsume_times = rec->reconsume_times;
      m.properties = edit_properties(rec->properties, {}, {property::kDelayTimeLevel});
      due.push_back(std::move(m));
      offset_after.push_back(next_offset);
      if (static_cast<int>(due.size()) >= kMaxPerWake) break;
    }
    if (stop || got.messages.empty()) break;
  }
  if (due.empty()) return true;
  const bool capped = static_cast<int>(due.size()) >= kMaxPerWake;
  lv.in_flight = true;
  const uint64_t generation = generation_;
  std::weak_ptr<bool> alive = alive_;
  const size_t count = due.size();
  put_(std::move(due), [this, alive, generation, level, count, offset_after = std::move(offset_after)](size_t stored) {
    if (alive.expired() || generation != generation_) return;
    Level& l = levels_[level];
    l.in_flight = false;
    delivered_ += stored;
    if (stored > 0) {
      l.offset = offset_after[stored - 1];
      dirty_ = true;
    }
    if (stored < count) {
      log_.warn("delay level " + std::to_string(level) + ": " + std::to_string(count - stored) +
                " due messages not stored, trying again in " + std::to_string(kPollIntervalMs) + " ms");
      l.next_due_ms = clock_.now_ms() + kPollIntervalMs;
    } else {
      l.next_due_ms = clock_.now_ms();  // look again at once: more may be due
    }
    // An answer inside wake() is picked up by its arm(); a later one (a DLedger commit) re-arms.
    if (!in_wake_ && running_) arm();
  });
  return !capped;
}

}  // namespace mq

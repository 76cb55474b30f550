#include "broker/broker_stats.h"

#include <charconv>

namespace mq {

namespace {
constexpr size_t kMaxSnapshots = 601;

// Java's Double.toString for the values TPS figures take (non-negative, finite, below 1e7): the
// shortest decimal that reads back, with ".0" when integral.
std::string java_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, v >= 1e7 ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

void BrokerStats::sample(int64_t now_ms, int64_t local_day) {
  snapshots_.push_back(Snapshot{now_ms, put_, get_found_, get_miss_, get_total_, transferred_});
  while (snapshots_.size() > kMaxSnapshots) snapshots_.pop_front();
  if (day_ < 0) {
    // Started today: what happened before the start is not ours to count.
    day_ = local_day;
  } else if (local_day != day_) {
    day_ = local_day;
    put_yesterday_morning_ = put_today_morning_;
    get_yesterday_morning_ = get_today_morning_;
    put_today_morning_ = put_;
    get_today_morning_ = transferred_;
  }
}

std::string broker_stats_data_json(const StatsWindowSums& sums) {
  std::string out = "{";
  const char* names[3] = {"statsMinute", "statsHour", "statsDay"};
  // fastjson's order (alphabetical): statsDay, statsHour, statsMinute.
  for (size_t w : {size_t{2}, size_t{1}, size_t{0}}) {
    if (out.size() > 1) out += ",";
    out += std::string("\"") + names[w] + "\":{\"avgpt\":0.0,\"sum\":" + std::to_string(sums.sum[w]) +
           ",\"tps\":" + java_double(sums.tps(w)) + "}";
  }
  return out + "}";
}

std::string BrokerStats::tps_over(int64_t Snapshot::*counter, size_t seconds) const {
  // As RocketMQ: empty until there are more than `seconds` snapshots.
  if (snapshots_.size() <= seconds) return {};
  const Snapshot& last = snapshots_.back();
  const Snapshot& before = snapshots_[snapshots_.size() - 1 - seconds];
  const int64_t ms = last.ms - before.ms;
  if (ms <= 0) return "0.0";
  // RocketMQ's CallSnapshot.getTPS, operation for operation: (count / ms) * 1000.
  return java_double(static_cast<double>(last.*counter - before.*counter) / static_cast<double>(ms) * 1000.0);
}

std::string BrokerStats::tps(int64_t Snapshot::*counter) const {
  return tps_over(counter, 10) + " " + tps_over(counter, 60) + " " + tps_over(counter, 600);
}

std::map<std::string, std::string> BrokerStats::runtime_info() const {
  return {
      {"putTps", tps(&Snapshot::put)},
      {"getFoundTps", tps(&Snapshot::get_found)},
      {"getMissTps", tps(&Snapshot::get_miss)},
      {"getTotalTps", tps(&Snapshot::get_total)},
      {"getTransferedTps", tps(&Snapshot::transferred)},
      {"msgPutTotalYesterdayMorning", std::to_string(put_yesterday_morning_)},
      {"msgPutTotalTodayMorning", std::to_string(put_today_morning_)},
      {"msgPutTotalTodayNow", std::to_string(put_)},
      {"msgGetTotalYesterdayMorning", std::to_string(get_yesterday_morning_)},
      {"msgGetTotalTodayMorning", std::to_string(get_today_morning_)},
      {"msgGetTotalTodayNow", std::to_string(transferred_)},
  };
}

}  // namespace mq

// BrokerStats: the counters GET_BROKER_RUNTIME_INFO reports, as RocketMQ's StoreStatsService and
// BrokerStats keep them, so that RocketMQ's own `mqadmin clusterList` and `brokerStatus` read real
// values from us.
//  * Per-second snapshots (sample(), from a 1 s timer) of the put, get-found, get-miss, get-total
//    and get-transferred counters, the last 601 of them: TPS over the last 10, 60 and 600 seconds,
//    printed as RocketMQ prints them ("tps10 tps60 tps600", each Java's Double.toString, empty while
//    there are not yet enough snapshots: clusterList parses the first field).
//  * Day counters: at the first sample of a new local day, "today morning" becomes "yesterday
//    morning" and the current totals become "today morning" (msgPutTotalTodayMorning and friends).
// No clock is read here: the caller passes the time and the local day number.
//
// VIEW_BROKER_STATS_DATA (RocketMQ's BrokerStatsData, which `mqadmin statsAll` reads for a topic's
// TOPIC_PUT_NUMS and a topic@group's GROUP_GET_NUMS): a sum, its rate per second and an average
// per call for the last minute, hour and day. RocketMQ keeps these per stats key in memory from
// per-call counters; the broker here derives the sums from its ConsumeQueues instead (messages
// stored in the window, and those of them a group has consumed), so they survive a restart and
// cost nothing on the send and pull paths. Calls are not counted, so avgpt is 0.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <string>

namespace mq {

// The windows of RocketMQ's StatsItem: minute, hour, day.
inline constexpr int64_t kStatsWindowMs[3] = {60'000, 3'600'000, 86'400'000};

// Sums over kStatsWindowMs, in that order.
struct StatsWindowSums {
  int64_t sum[3] = {0, 0, 0};
  // Per second over the window (RocketMQ divides by the time its snapshots span, at most the window).
  double tps(size_t window) const { return static_cast<double>(sum[window]) * 1000.0 / static_cast<double>(kStatsWindowMs[window]); }
};

// BrokerStatsData JSON: {"statsDay":{"avgpt":0.0,"sum":N,"tps":T},"statsHour":{...},"statsMinute":{...}}.
std::string broker_stats_data_json(const StatsWindowSums& sums);

class BrokerStats {
 public:
  void on_put(int64_t messages) { put_ += messages; }
  // One pull: found (with the messages it returns) or not.
  void on_get(bool found, int64_t messages) {
    ++get_total_;
    if (found) {
      ++get_found_;
      transferred_ += messages;
    } else {
      ++get_miss_;
    }
  }
  // Called about once a second; `local_day` changes at local midnight (days since the epoch).
  void sample(int64_t now_ms, int64_t local_day);

  int64_t put_total() const { return put_; }
  int64_t get_total() const { return get_total_; }
  int64_t get_found() const { return get_found_; }
  int64_t messages_transferred() const { return transferred_; }

  // RocketMQ's key=value runtime figures: putTps, getFoundTps, getMissTps, getTotalTps,
  // getTransferedTps, msgPut/GetTotal{Yesterday,Today}Morning, msgPut/GetTotalTodayNow.
  std::map<std::string, std::string> runtime_info() const;

 private:
  struct Snapshot {
    int64_t ms;
    int64_t put, get_found, get_miss, get_total, transferred;
  };
  std::string tps(int64_t Snapshot::*counter) const;
  std::string tps_over(int64_t Snapshot::*counter, size_t seconds) const;

  int64_t put_ = 0, get_found_ = 0, get_miss_ = 0, get_total_ = 0, transferred_ = 0;
  std::deque<Snapshot> snapshots_;
  int64_t day_ = -1;
  int64_t put_today_morning_ = 0, put_yesterday_morning_ = 0;
  int64_t get_today_morning_ = 0, get_yesterday_morning_ = 0;
};

}  // namespace mq

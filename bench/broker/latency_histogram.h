// A lock-free latency histogram in microseconds: exact below 1024 us, then 512 linear sub-buckets
// per power of two (under 0.2% error), up to ~2^40 us. Writers (one per benchmark thread) add with
// relaxed atomics; the reporting thread snapshots and subtracts the previous snapshot to get one
// interval's distribution.
#pragma once
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

namespace mq::bench {

class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = 1024 + 31 * 512;

  LatencyHistogram() : counts_(new std::atomic<uint64_t>[kBuckets]) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i].store(0, std::memory_order_relaxed);
  }
  void record(uint64_t us) { counts_[index_of(us)].fetch_add(1, std::memory_order_relaxed); }
  void add_to(std::vector<uint64_t>& out) const {
    out.resize(kBuckets);
    for (size_t i = 0; i < kBuckets; ++i) out[i] += counts_[i].load(std::memory_order_relaxed);
  }

  static size_t index_of(uint64_t us) {
    if (us < 1024) return static_cast<size_t>(us);
    int e = 63 - std::countl_zero(us);  // >= 10
    if (e > 40) return kBuckets - 1;
    uint64_t sub = (us >> (e - 9)) & 511;
    return 1024 + static_cast<size_t>(e - 10) * 512 + static_cast<size_t>(sub);
  }
  static uint64_t value_of(size_t idx) {
    if (idx < 1024) return idx;
    size_t e = (idx - 1024) / 512 + 10;
    uint64_t sub = (idx - 1024) % 512;
    return (512 + sub) << (e - 9);
  }

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
};

struct Percentiles {
  uint64_t count = 0;
  double avg_ms = 0, p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

inline Percentiles percentiles(const std::vector<uint64_t>& counts) {
  Percentiles p;
  long double sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    p.count += counts[i];
    sum += static_cast<long double>(counts[i]) * LatencyHistogram::value_of(i);
  }
  if (p.count == 0) return p;
  p.avg_ms = static_cast<double>(sum / p.count) / 1000.0;
  auto at = [&](double q) {
    uint64_t target = static_cast<uint64_t>(q * static_cast<double>(p.count - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      if (seen >= target) return static_cast<double>(LatencyHistogram::value_of(i)) / 1000.0;
    }
    return 0.0;
  };
  p.p50_ms = at(0.50);
  p.p99_ms = at(0.99);
  p.p999_ms = at(0.999);
  for (size_t i = counts.size(); i-- > 0;)
    if (counts[i] != 0) {
      p.max_ms = static_cast<double>(LatencyHistogram::value_of(i)) / 1000.0;
      break;
    }
  return p;
}

}  // namespace mq::bench

// Time and randomness are passed in, never read from globals, so the store and the Raft core stay
// deterministic under test. SystemClock is for the runtime; ManualClock and a seeded Random are
// for tests and simulation.
#pragma once
#include <cstdint>

namespace mq {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (what RocketMQ stores as timestamps).
  virtual int64_t now_ms() const = 0;
  // Monotonic milliseconds for timeouts and expiry; unrelated to the epoch.
  virtual int64_t monotonic_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
  int64_t monotonic_ms() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  int64_t now_ms() const override { return now_ms_; }
  int64_t monotonic_ms() const override { return now_ms_; }
  void advance_ms(int64_t delta_ms) { now_ms_ += delta_ms; }
  void set_ms(int64_t ms) { now_ms_ = ms; }

 private:
  int64_t now_ms_;
};

// splitmix64: small, fast, and fully determined by its seed.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive); requires lo <= hi.
  int64_t uniform(int64_t lo, int64_t hi) {
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return span == 0 ? static_cast<int64_t>(next_u64()) : lo + static_cast<int64_t>(next_u64() % span);
  }
  // True with probability num/den.
  bool chance(uint64_t num, uint64_t den) { return next_u64() % den < num; }

 private:
  uint64_t state_;
};

}  // namespace mq

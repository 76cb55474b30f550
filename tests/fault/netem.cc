#include "tests/fault/netem.h"

#include <algorithm>
#include <cmath>

namespace mq::fault {

uint64_t NetemRandom::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double NetemRandom::uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double NetemRandom::normal() {
  if (spare_) {
    double v = *spare_;
    spare_.reset();
    return v;
  }
  double u1 = 0;
  while (u1 <= 0) u1 = uniform01();  // log(0) is -inf
  double u2 = uniform01();
  double r = std::sqrt(-2.0 * std::log(u1));
  constexpr double kTwoPi = 6.283185307179586;
  spare_ = r * std::sin(kTwoPi * u2);
  return r * std::cos(kTwoPi * u2);
}

NetemScheduler::NetemScheduler(const NetemConfig& config) : config_(config), random_(config.seed) {
  config_.delay_us = std::max<int64_t>(0, config_.delay_us);
  config_.jitter_us = std::max<int64_t>(0, config_.jitter_us);
  config_.loss_pct = std::clamp(config_.loss_pct, 0.0, 100.0);
  config_.reorder_pct = std::clamp(config_.reorder_pct, 0.0, 100.0);
}

int64_t NetemScheduler::draw_delay_us() {
  double jitter = static_cast<double>(config_.jitter_us);
  double offset = 0;
  if (jitter > 0) {
    if (config_.distribution == NetemConfig::Distribution::uniform) {
      offset = (2.0 * random_.uniform01() - 1.0) * jitter;
    } else {
      // Redrawn rather than clamped, so the cut-off edges do not pile up packets.
      do offset = random_.normal() * jitter;
      while (std::abs(offset) > 3.0 * jitter);
    }
  }
  return std::max<int64_t>(0, config_.delay_us + static_cast<int64_t>(std::llround(offset)));
}

NetemScheduler::Decision NetemScheduler::offer(uint64_t id, int64_t arrival_us) {
  ++stats_.seen;
  Decision d;
  // Every packet consumes the same draws whatever the outcome, so that changing one percentage
  // does not reshuffle the rest of a seeded run.
  double loss_draw = random_.uniform01();
  double reorder_draw = random_.uniform01();
  int64_t delay_us = draw_delay_us();
  if (loss_draw * 100.0 < config_.loss_pct) {
    ++stats_.dropped;
    d.drop = true;
    return d;
  }
  bool immediate = reorder_draw * 100.0 < config_.reorder_pct;
  d.release_us = arrival_us + (immediate ? 0 : delay_us);
  d.reordered = d.release_us < latest_release_us_;
  if (d.reordered) ++stats_.reordered;
  if (d.release_us > arrival_us) ++stats_.delayed;
  latest_release_us_ = std::max(latest_release_us_, d.release_us);
  held_.push(Held{d.release_us, arrivals_++, id});
  return d;
}

std::vector<uint64_t> NetemScheduler::due(int64_t now_us) {
  std::vector<uint64_t> out;
  while (!held_.empty() && held_.top().release_us <= now_us) {
    out.push_back(held_.top().id);
    held_.pop();
  }
  stats_.released += out.size();
  return out;
}

std::vector<uint64_t> NetemScheduler::drain() { return due(INT64_MAX); }

std::optional<int64_t> NetemScheduler::next_release_us() const {
  if (held_.empty()) return std::nullopt;
  return held_.top().release_us;
}

std::string to_string(const NetemStats& s) {
  return "seen=" + std::to_string(s.seen) + " dropped=" + std::to_string(s.dropped) +
         " delayed=" + std::to_string(s.delayed) + " reordered=" + std::to_string(s.reordered) +
         " released=" + std::to_string(s.released);
}

}  // namespace mq::fault

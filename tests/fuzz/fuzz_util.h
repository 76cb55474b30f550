// Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.cc): a logger that discards, a check
// that crashes the fuzzer when a decoder breaks one of its own promises, and the section format that
// lets one input describe several files or messages.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "base/log.h"

namespace mq::fuzz {

// A logger whose output goes nowhere (recovery of garbage logs a lot; printing it would dominate).
inline Logger quiet_logger() {
  static std::shared_ptr<LogSink> sink = [] {
    std::FILE* f = std::fopen("/dev/null", "w");
    return std::make_shared<LogSink>(f ? f : stderr, LogLevel::kError);
  }();
  return Logger(sink, "[fuzz]");
}

// A broken invariant of the code under test (not of the input): report and crash so libFuzzer
// keeps the input.
#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

// Input format of the multi-part targets: a sequence of sections, each
//   u8 kind | u32 big-endian length | length bytes
// A length running past the end takes what is left. tests/fuzz/make_seeds.py writes the same format.
struct Section {
  uint8_t kind;
  std::string_view bytes;
};

inline std::vector<Section> split_sections(std::string_view in, size_t max_sections = 16) {
  std::vector<Section> out;
  size_t pos = 0;
  while (pos + 5 <= in.size() && out.size() < max_sections) {
    const auto* p = reinterpret_cast<const uint8_t*>(in.data() + pos);
    uint32_t len = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | uint32_t{p[4]};
    pos += 5;
    size_t n = std::min<size_t>(len, in.size() - pos);
    out.push_back(Section{p[0], in.substr(pos, n)});
    pos += n;
  }
  return out;
}

}  // namespace mq::fuzz

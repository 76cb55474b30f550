// Invariant checks that stay on in release builds. A failed check is a bug, not an expected
// outcome: the process prints where and why, then aborts so the bug cannot corrupt data further.
#pragma once
#include <string_view>

namespace mq {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, std::string_view why);
}  // namespace mq

#define MQ_CHECK(cond, why)                                          \
  do {                                                               \
    if (!(cond)) [[unlikely]]                                        \
      ::mq::check_failed(__FILE__, __LINE__, #cond, (why));          \
  } while (0)

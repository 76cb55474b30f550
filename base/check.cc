#include "base/check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace mq {
void check_failed(const char* file, int line, const char* expr, std::string_view why) {
  std::fprintf(stderr, "FATAL %s:%d: check failed: %s: %.*s\n", file, line, expr,
               static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::abort();
}
}  // namespace mq

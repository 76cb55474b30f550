#include "tests/fault/history.h"

#include <chrono>
#include <stdexcept>

namespace mq::fault {

History::History(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) throw std::runtime_error("cannot open history file " + path);
}

History::~History() {
  if (file_ != nullptr) std::fclose(file_);
}

int64_t History::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void History::write(nlohmann::json row) {
  if (!row.is_object()) row = nlohmann::json{{"f", "note"}, {"type", "info"}, {"detail", row}};
  if (!row.contains("t")) row["t"] = now_ms();
  // Invalid UTF-8 in a detail (a broker's remark) must not throw here: replace it.
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard lock(mu_);
  // One fwrite of the whole line, then a flush: a crash tears at most the last line.
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
  ++rows_;
}

uint64_t History::rows() const {
  std::lock_guard lock(mu_);
  return rows_;
}

}  // namespace mq::fault

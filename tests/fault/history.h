// The fault harness's history file: every operation of a run, one JSON object per line (JSON
// lines), appended by the workload (sends, consumes, drains) and by the harness (faults, heals,
// notes), read afterwards by the checkers (checker.h).
//
// A row is a flat JSON object:
//   "t"      wall-clock ms (one clock for every row of a file; History adds it when missing)
//   "f"      what: "send" | "consume" | "drain" | "fault" | "heal" | "note"
//   "type"   "invoke" (an operation starts) | "ok" | "fail" (definitely not done) |
//            "unknown" (may or may not have happened: timeout, connection lost after the request
//            went out) | "info" (faults, heals, notes, drain summaries)
//   "proc"   the worker that did it (a producer id; consumers and the drain use their own ids)
//   "topic", "broker" (brokerName, the group), "queue" (queue id), "offset" (queue offset),
//   "key"    "p<producer>-<seq>", also the message's KEYS and its body's first token
//   "seq"    the producer's sequence number for that key
//   "detail" free text (why a send failed, ...)
// Send rows: invoke {proc, topic, broker, queue, key, seq}; ok adds offset; fail / unknown add
//   detail. A retry of an unknown or failed send is a new invoke with the SAME key and seq.
// Consume rows (tailing consumers, for unavailability): type ok, {broker, queue, offset, key}.
// Drain rows (after the heal, every queue read from min to max offset): type ok, {broker, queue,
//   offset, key}; one {"f":"drain","type":"info","detail":"done"|"timeout", ...} row at the end.
// Fault rows (the harness): {"f":"fault","type":"info","fault":"kill9"|"stop"|"partition-one"|...,
//   "hosts":[...], "groups":[brokerName...] or ["*"] / absent for all}; {"f":"heal",...} likewise.
//
// After a crash: every row is written whole with one write() of the line and the stream is flushed
// after each row, so a harness killed mid-run leaves at most a torn last line; the checker reads
// everything before it and reports the torn line as a note, not an error. A malformed line that is
// not the last is reported with its line number.
#pragma once
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace mq::fault {

class History {
 public:
  // Truncates `path`. Throws std::runtime_error if the file cannot be opened.
  explicit History(const std::string& path);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Wall-clock epoch ms (system_clock): the lead's fault rows and the workload's rows share it,
  // and it lets a reader line rows up with broker logs.
  int64_t now_ms() const;
  // Appends one row (thread-safe), adding "t" = now_ms() when absent, and flushes it.
  void write(nlohmann::json row);
  // Rows written so far.
  uint64_t rows() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  mutable std::mutex mu_;
  std::FILE* file_ = nullptr;
  uint64_t rows_ = 0;
};

}  // namespace mq::fault

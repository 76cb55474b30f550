// The checkers of the fault harness: they read a history file (history.h) after the faults were
// healed and every queue drained, and judge it.
//
// Verdicts (violations make ok() false):
//  lost     a key whose send was acknowledged ("ok") and that no "drain" row holds. Unknown and
//           failed sends never count as lost.
//  moved    the drained message at an acknowledged (broker, queue, offset) has another key, or that
//           offset was never drained although the key was (acked offsets must hold). A message
//           whose offset was not drained at all (and whose key is not drained anywhere) is lost.
//  order    for one (broker, queue, producer), the seqs in queue-offset order, after dropping the
//           repeats of a seq already seen (retries after unknown outcomes), are not strictly
//           increasing.
// Counted, not errors: duplicates (drain rows beyond the first for one key), failed and unknown
//  sends, drained rows, and unknown sends whose key was drained (they were stored after all).
// Unavailability: for each fault row (time t, kind, groups), per affected group g:
//  send window = completion time of the first "ok" send to g whose invoke is at or after t, minus t;
//  consume window = the first "consume" row of g at or after t, minus t. A group with no such
//  event is "never" (reported, and excluded from worst/median). Per fault kind: worst and median
//  over all (fault, group) pairs.
// Reading: a torn last line (a harness killed mid-write) is tolerated with a note; any other line
//  that is not a JSON object, or a row missing a field its verdict needs, is reported as malformed
//  with its line number (and makes ok() false: the history cannot be trusted).
// Cost: check_history streams the file. Lines of plain flat objects (the workload's send, consume
//  and drain rows) are scanned for the fields above without building a JSON value; any other line
//  (nested arrays, escapes, non-ASCII, floats, bad syntax) is left to nlohmann::json, which has the
//  last word on what is JSON, so both give the same verdicts. Kept per operation: a compact record
//  of integers and interned key / broker ids (about 170 bytes per send of a soak history: 1M sends
//  in ~170 MB RSS), nothing per row of the file. A non-string "status" or "detail" counts as absent.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mq::fault {

struct FaultWindow {
  int64_t t_ms = 0;
  std::string kind;
  std::string group;
  std::optional<int64_t> send_ms;     // nullopt: no successful send after it
  std::optional<int64_t> consume_ms;  // nullopt: no consume after it
};

struct WindowStats {
  int64_t count = 0;              // (fault, group) pairs
  std::optional<int64_t> worst_send_ms, median_send_ms;
  std::optional<int64_t> worst_consume_ms, median_consume_ms;
  int64_t never_send = 0, never_consume = 0;
};

struct Violation {
  std::string kind;  // "lost" | "moved" | "order"
  std::string key;
  std::string broker;
  int32_t queue = -1;
  int64_t offset = -1;
  std::string detail;
};

struct Report {
  // Counts.
  int64_t rows = 0;
  int64_t attempted = 0;  // send invokes
  int64_t acknowledged = 0;  // send ok rows
  int64_t acked_keys = 0;    // distinct keys acknowledged
  int64_t failed = 0;
  int64_t unknown = 0;
  int64_t unknown_keys_stored = 0;  // keys never acked but found in the drain
  int64_t consumed = 0;
  int64_t drained = 0;
  int64_t drained_keys = 0;
  int64_t duplicates = 0;  // drain rows beyond the first for a key
  int64_t lost = 0;
  int64_t moved = 0;
  int64_t order_violations = 0;
  bool drain_done = false;  // a drain info row with detail "done" was seen
  int64_t faults = 0;

  std::vector<Violation> violations;  // every lost / moved / order violation
  std::vector<FaultWindow> windows;   // one per (fault, group)
  std::map<std::string, WindowStats> window_stats;  // by fault kind
  std::vector<std::string> malformed;  // "line N: why"
  std::vector<std::string> notes;      // torn last line, drain timeout, ...

  // No lost, moved or order violation and no malformed line.
  bool ok() const;
  // The human report: counts, verdicts (first violations listed), windows per fault kind.
  std::string text() const;
  nlohmann::json to_json() const;
};

// Reads and judges a history file. A file that cannot be opened gives a report with one malformed
// entry ("cannot open").
Report check_history(const std::string& path);
// The same from rows already in memory, each with its 1-based line number for messages.
Report check_rows(const std::vector<nlohmann::json>& rows);

}  // namespace mq::fault

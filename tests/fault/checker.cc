#include "tests/fault/checker.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

namespace mq::fault {

namespace {

using nlohmann::json;

constexpr size_t kListedViolations = 20;  // the text lists this many of each kind; the JSON all

struct Row {
  int64_t line = 0;
  json j;
};

bool is_int(const json& j, const char* k) { return j.contains(k) && j[k].is_number_integer(); }
bool is_str(const json& j, const char* k) { return j.contains(k) && j[k].is_string(); }

// "p<producer>-<seq>" -> (producer, seq).
std::optional<std::pair<int64_t, int64_t>> parse_key(const std::string& key) {
  if (key.size() < 4 || key[0] != 'p') return std::nullopt;
  size_t dash = key.find('-', 1);
  if (dash == std::string::npos) return std::nullopt;
  int64_t p = 0, s = 0;
  auto r1 = std::from_chars(key.data() + 1, key.data() + dash, p);
  auto r2 = std::from_chars(key.data() + dash + 1, key.data() + key.size(), s);
  if (r1.ec != std::errc() || r1.ptr != key.data() + dash || r2.ec != std::errc() || r2.ptr != key.data() + key.size())
    return std::nullopt;
  return std::make_pair(p, s);
}

// Which fields a row needs for the verdicts that read it; empty when it has them all.
std::string missing_fields(const json& j) {
  if (!is_int(j, "t")) return "no integer \"t\"";
  if (!is_str(j, "f")) return "no string \"f\"";
  if (!is_str(j, "type")) return "no string \"type\"";
  const std::string f = j["f"], type = j["type"];
  auto need = [&](std::initializer_list<std::pair<const char*, bool>> fields) -> std::string {
    for (auto [k, integer] : fields)
      if (integer ? !is_int(j, k) : !is_str(j, k))
        return f + " " + type + " row without " + (integer ? "integer " : "string ") + "\"" + k + "\"";
    return "";
  };
  if (f == "send") {
    if (type == "invoke") return need({{"key", false}, {"broker", false}, {"queue", true}});
    if (type == "ok") return need({{"key", false}, {"broker", false}, {"queue", true}, {"offset", true}});
    if (type == "fail" || type == "unknown") return need({{"key", false}});
    return "send row with type \"" + type + "\"";
  }
  if (f == "drain" && type == "ok") return need({{"key", false}, {"broker", false}, {"queue", true}, {"offset", true}});
  if (f == "consume" && type == "ok") return need({{"broker", false}});
  if (f == "fault") return need({{"fault", false}});
  return "";
}

std::optional<int64_t> median_of(std::vector<int64_t> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];  // the lower median: always a window that really happened
}

std::string ms_text(const std::optional<int64_t>& v) { return v ? std::to_string(*v) + " ms" : "never"; }

json opt_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

Report judge(const std::vector<Row>& rows, Report r) {
  struct Ack {
    std::string key, broker, status;
    int32_t queue;
    int64_t offset, line;
  };
  std::vector<Ack> acks;
  std::set<std::string> acked_keys, not_acked_keys;
  std::unordered_map<std::string, int64_t> drained_count;
  std::map<std::tuple<std::string, int32_t, int64_t>, std::string> drained_at;
  struct Drained {
    int64_t offset;
    std::string key;
  };
  std::map<std::pair<std::string, int32_t>, std::vector<Drained>> drained_by_queue;
  struct SendOk {
    int64_t start, t;
  };
  std::map<std::string, std::vector<SendOk>> send_oks;  // by group
  struct Consume {
    int64_t t, born;
  };
  std::map<std::string, std::vector<Consume>> consumes;  // by group
  std::map<std::string, int64_t> last_invoke;             // proc/key -> invoke time
  std::set<std::string> groups;
  std::vector<const Row*> faults;

  for (const Row& row : rows) {
    const json& j = row.j;
    ++r.rows;
    const std::string f = j["f"], type = j["type"];
    int64_t t = j["t"];
    if (f == "send") {
      std::string key = j["key"];
      std::string proc = j.contains("proc") ? j["proc"].dump() : "";
      if (j.contains("broker") && j["broker"].is_string()) groups.insert(j["broker"].get<std::string>());
      if (type == "invoke") {
        ++r.attempted;
        last_invoke[proc + "/" + key] = t;
      } else if (type == "ok") {
        ++r.acknowledged;
        Ack a{key, j["broker"], j.value("status", std::string("SEND_OK")), j["queue"].get<int32_t>(), j["offset"],
              row.line};
        acks.push_back(a);
        acked_keys.insert(key);
        int64_t start = t;
        if (is_int(j, "start")) {
          start = j["start"];
        } else if (auto it = last_invoke.find(proc + "/" + key); it != last_invoke.end()) {
          start = it->second;
        }
        send_oks[a.broker].push_back(SendOk{start, t});
      } else if (type == "fail") {
        ++r.failed;
        not_acked_keys.insert(key);
      } else if (type == "unknown") {
        ++r.unknown;
        not_acked_keys.insert(key);
      }
    } else if (f == "consume" && type == "ok") {
      ++r.consumed;
      std::string g = j["broker"];
      consumes[g].push_back(Consume{t, is_int(j, "born") ? j["born"].get<int64_t>() : t});
    } else if (f == "drain" && type == "ok") {
      ++r.drained;
      std::string key = j["key"], g = j["broker"];
      int32_t q = j["queue"];
      int64_t off = j["offset"];
      if (++drained_count[key] > 1) ++r.duplicates;
      auto [it, fresh] = drained_at.emplace(std::make_tuple(g, q, off), key);
      if (!fresh && it->second != key)
        r.notes.push_back("line " + std::to_string(row.line) + ": " + g + "/" + std::to_string(q) + " offset " +
                          std::to_string(off) + " drained twice with different keys (" + it->second + ", " + key + ")");
      drained_by_queue[{g, q}].push_back(Drained{off, key});
    } else if (f == "drain" && type == "info") {
      std::string d = j.value("detail", std::string());
      if (d == "done") r.drain_done = true;
      if (d == "timeout") r.notes.push_back("line " + std::to_string(row.line) + ": the drain timed out: " + j.dump());
      if (d == "offset moved") r.notes.push_back("line " + std::to_string(row.line) + ": drain " + j.dump());
    } else if (f == "fault") {
      ++r.faults;
      faults.push_back(&row);
    } else if (f == "note" && j.contains("brokers") && j["brokers"].is_array()) {
      for (const auto& b : j["brokers"])
        if (b.is_string()) groups.insert(b.get<std::string>());
    } else if (f != "heal" && f != "note" && f != "drain" && f != "consume") {
      r.notes.push_back("line " + std::to_string(row.line) + ": row of unknown kind \"" + f + "\" ignored");
    }
  }
  r.acked_keys = static_cast<int64_t>(acked_keys.size());
  r.drained_keys = static_cast<int64_t>(drained_count.size());
  for (const auto& k : not_acked_keys)
    if (!acked_keys.count(k) && drained_count.count(k)) ++r.unknown_keys_stored;
  if (!r.drain_done) r.notes.push_back("no completed drain in the history: keys not drained count as lost");

  // lost and moved
  std::set<std::string> lost_keys;
  for (const Ack& a : acks) {
    bool drained = drained_count.count(a.key) > 0;
    if (!drained && lost_keys.insert(a.key).second) {
      ++r.lost;
      r.violations.push_back(Violation{"lost", a.key, a.broker, a.queue, a.offset,
                                       "acknowledged (" + a.status + ", line " + std::to_string(a.line) +
                                           ") and never drained"});
    }
    auto at = drained_at.find(std::make_tuple(a.broker, a.queue, a.offset));
    if (at != drained_at.end() && at->second != a.key) {
      ++r.moved;
      r.violations.push_back(Violation{"moved", a.key, a.broker, a.queue, a.offset,
                                       "acknowledged at this offset (line " + std::to_string(a.line) +
                                           "), drained there: " + at->second});
    } else if (at == drained_at.end() && drained) {
      ++r.moved;
      r.violations.push_back(Violation{"moved", a.key, a.broker, a.queue, a.offset,
                                       "acknowledged at this offset (line " + std::to_string(a.line) +
                                           "), which was not drained, but the key was drained elsewhere"});
    }
  }

  // order: per (broker, queue, producer), seqs in offset order, repeats dropped, strictly increasing
  int64_t unparsable = 0;
  for (auto& [gq, list] : drained_by_queue) {
    std::sort(list.begin(), list.end(), [](const Drained& a, const Drained& b) { return a.offset < b.offset; });
    struct Prod {
      std::set<int64_t> seen;
      int64_t last_seq = -1, last_offset = -1;
    };
    std::map<int64_t, Prod> prods;
    for (const auto& d : list) {
      auto ps = parse_key(d.key);
      if (!ps) {
        ++unparsable;
        continue;
      }
      Prod& p = prods[ps->first];
      if (!p.seen.insert(ps->second).second) continue;  // a retry's copy: a duplicate, not disorder
      if (p.last_offset >= 0 && ps->second <= p.last_seq) {
        ++r.order_violations;
        r.violations.push_back(Violation{"order", d.key, gq.first, gq.second, d.offset,
                                         "seq " + std::to_string(ps->second) + " after seq " +
                                             std::to_string(p.last_seq) + " (offset " +
                                             std::to_string(p.last_offset) + ")"});
      }
      p.last_seq = ps->second;
      p.last_offset = d.offset;
    }
  }
  if (unparsable > 0)
    r.notes.push_back(std::to_string(unparsable) + " drained keys are not p<producer>-<seq>: left out of the order check");

  // unavailability windows
  for (auto& [g, v] : send_oks) std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.t < b.t; });
  for (auto& [g, v] : consumes) std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.t < b.t; });
  for (const Row* fr : faults) {
    const json& j = fr->j;
    int64_t t = j["t"];
    std::string kind = j["fault"];
    std::vector<std::string> affected;
    bool all = !j.contains("groups") || !j["groups"].is_array() || j["groups"].empty();
    if (!all)
      for (const auto& g : j["groups"]) {
        if (!g.is_string() || g == "*" || g == "all") {
          all = true;
          break;
        }
        affected.push_back(g);
      }
    if (all) affected.assign(groups.begin(), groups.end());
    WindowStats& ws = r.window_stats[kind];
    for (const auto& g : affected) {
      FaultWindow w{t, kind, g, std::nullopt, std::nullopt};
      for (const auto& s : send_oks[g])
        if (s.start >= t) {
          w.send_ms = s.t - t;
          break;
        }
      for (const auto& c : consumes[g])
        if (c.t >= t && c.born >= t) {  // a message sent after the fault, not a backlog of old ones
          w.consume_ms = c.t - t;
          break;
        }
      ++ws.count;
      if (!w.send_ms) ++ws.never_send;
      if (!w.consume_ms) ++ws.never_consume;
      r.windows.push_back(w);
    }
  }
  for (auto& [kind, ws] : r.window_stats) {
    std::vector<int64_t> s, c;
    for (const auto& w : r.windows)
      if (w.kind == kind) {
        if (w.send_ms) s.push_back(*w.send_ms);
        if (w.consume_ms) c.push_back(*w.consume_ms);
      }
    if (!s.empty()) ws.worst_send_ms = *std::max_element(s.begin(), s.end());
    if (!c.empty()) ws.worst_consume_ms = *std::max_element(c.begin(), c.end());
    ws.median_send_ms = median_of(s);
    ws.median_consume_ms = median_of(c);
  }
  return r;
}

}  // namespace

bool Report::ok() const { return lost == 0 && moved == 0 && order_violations == 0 && malformed.empty(); }

std::string Report::text() const {
  std::ostringstream o;
  o << "history: " << rows << " rows, " << faults << " faults\n";
  o << "sends:   attempted " << attempted << ", acknowledged " << acknowledged << " (" << acked_keys
    << " keys), failed " << failed << ", unknown " << unknown << " (" << unknown_keys_stored
    << " never-acked keys found stored)\n";
  o << "reads:   consumed " << consumed << ", drained " << drained << " (" << drained_keys << " keys), duplicates "
    << duplicates << (drain_done ? "" : ", DRAIN NOT COMPLETED") << "\n";
  o << "verdict: lost " << lost << ", moved " << moved << ", order violations " << order_violations
    << ", malformed rows " << malformed.size() << " -> " << (ok() ? "OK" : "FAILED") << "\n";
  for (const char* kind : {"lost", "moved", "order"}) {
    size_t shown = 0, total = 0;
    for (const auto& v : violations) {
      if (v.kind != kind) continue;
      ++total;
      if (shown++ < kListedViolations)
        o << "  " << kind << ": " << v.key << " " << v.broker << "/" << v.queue << "@" << v.offset << ": " << v.detail
          << "\n";
    }
    if (total > kListedViolations) o << "  ... " << (total - kListedViolations) << " more " << kind << "\n";
  }
  for (const auto& m : malformed) o << "  malformed: " << m << "\n";
  if (!window_stats.empty()) {
    o << "unavailability per fault kind (worst / median over faults x groups; lower median):\n";
    for (const auto& [kind, ws] : window_stats)
      o << "  " << kind << ": " << ws.count << " windows; send worst " << ms_text(ws.worst_send_ms) << ", median "
        << ms_text(ws.median_send_ms) << (ws.never_send ? ", never recovered " + std::to_string(ws.never_send) : "")
        << "; consume worst " << ms_text(ws.worst_consume_ms) << ", median " << ms_text(ws.median_consume_ms)
        << (ws.never_consume ? ", never recovered " + std::to_string(ws.never_consume) : "") << "\n";
    o << "windows:\n";
    for (const auto& w : windows)
      o << "  t=" << w.t_ms << " " << w.kind << " " << w.group << ": send " << ms_text(w.send_ms) << ", consume "
        << ms_text(w.consume_ms) << "\n";
  }
  for (const auto& n : notes) o << "note: " << n << "\n";
  return o.str();
}

json Report::to_json() const {
  json j{{"ok", ok()},
         {"rows", rows},
         {"faults", faults},
         {"attempted", attempted},
         {"acknowledged", acknowledged},
         {"acked_keys", acked_keys},
         {"failed", failed},
         {"unknown", unknown},
         {"unknown_keys_stored", unknown_keys_stored},
         {"consumed", consumed},
         {"drained", drained},
         {"drained_keys", drained_keys},
         {"duplicates", duplicates},
         {"lost", lost},
         {"moved", moved},
         {"order_violations", order_violations},
         {"drain_done", drain_done},
         {"malformed", malformed},
         {"notes", notes}};
  json vs = json::array();
  for (const auto& v : violations)
    vs.push_back(json{{"kind", v.kind}, {"key", v.key}, {"broker", v.broker}, {"queue", v.queue},
                      {"offset", v.offset}, {"detail", v.detail}});
  j["violations"] = vs;
  json ws = json::array();
  for (const auto& w : windows)
    ws.push_back(json{{"t", w.t_ms}, {"fault", w.kind}, {"group", w.group}, {"send_ms", opt_json(w.send_ms)},
                      {"consume_ms", opt_json(w.consume_ms)}});
  j["windows"] = ws;
  json st = json::object();
  for (const auto& [kind, s] : window_stats)
    st[kind] = json{{"count", s.count},
                    {"worst_send_ms", opt_json(s.worst_send_ms)},
                    {"median_send_ms", opt_json(s.median_send_ms)},
                    {"worst_consume_ms", opt_json(s.worst_consume_ms)},
                    {"median_consume_ms", opt_json(s.median_consume_ms)},
                    {"never_send", s.never_send},
                    {"never_consume", s.never_consume}};
  j["window_stats"] = st;
  return j;
}

namespace {

// Rows that parse and carry what their verdicts need; the others go to malformed.
void accept(std::vector<Row>& rows, Report& r, int64_t line, json j) {
  if (!j.is_object()) {
    r.malformed.push_back("line " + std::to_string(line) + ": not a JSON object");
    return;
  }
  std::string why = missing_fields(j);
  if (!why.empty()) {
    r.malformed.push_back("line " + std::to_string(line) + ": " + why);
    return;
  }
  rows.push_back(Row{line, std::move(j)});
}

}  // namespace

Report check_rows(const std::vector<json>& in) {
  Report r;
  std::vector<Row> rows;
  for (size_t i = 0; i < in.size(); ++i) accept(rows, r, static_cast<int64_t>(i + 1), in[i]);
  return judge(rows, std::move(r));
}

Report check_history(const std::string& path) {
  Report r;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    r.malformed.push_back("cannot open " + path);
    return r;
  }
  std::vector<std::string> lines;
  for (std::string s; std::getline(in, s);) lines.push_back(std::move(s));
  // The last non-blank line may be torn by a harness killed mid-write: tolerated, with a note.
  size_t last = lines.size();
  while (last > 0 && lines[last - 1].find_first_not_of(" \t\r") == std::string::npos) --last;
  std::vector<Row> rows;
  for (size_t i = 0; i < last; ++i) {
    const std::string& s = lines[i];
    if (s.find_first_not_of(" \t\r") == std::string::npos) continue;
    int64_t line = static_cast<int64_t>(i + 1);
    json j = json::parse(s, nullptr, false);
    if (j.is_discarded()) {
      if (i + 1 == last) {
        r.notes.push_back("line " + std::to_string(line) + ": torn last line ignored (" + std::to_string(s.size()) +
                          " bytes; the harness was killed mid-write?)");
      } else {
        r.malformed.push_back("line " + std::to_string(line) + ": not JSON");
      }
      continue;
    }
    accept(rows, r, line, std::move(j));
  }
  return judge(rows, std::move(r));
}

}  // namespace mq::fault

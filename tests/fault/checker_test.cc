// The fault harness's checkers on synthetic histories (no sockets): each verdict is shown to fire
// on a history that has the defect and to stay quiet on one that does not. A checker that cannot
// see a lost message is a defect of the harness.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/checker.h"
#include "tests/fault/history.h"
#include "tests/support/temp_dir.h"

namespace mq::fault {
namespace {

using nlohmann::json;

// Builds rows the way the workload writes them.
struct H {
  std::vector<json> rows;
  int64_t t = 1000;

  // An acknowledged send of producer `p`, seq `s`, stored at `offset`.
  void ack(int p, int64_t s, const std::string& broker, int queue, int64_t offset) {
    std::string key = "p" + std::to_string(p) + "-" + std::to_string(s);
    rows.push_back(json{{"t", t}, {"f", "send"}, {"type", "invoke"}, {"proc", p}, {"broker", broker},
                        {"queue", queue}, {"key", key}, {"seq", s}});
    rows.push_back(json{{"t", t + 1}, {"f", "send"}, {"type", "ok"}, {"proc", p}, {"broker", broker},
                        {"queue", queue}, {"key", key}, {"seq", s}, {"offset", offset}, {"start", t}});
    t += 2;
  }
  void outcome(const std::string& type, int p, int64_t s, const std::string& broker, int queue) {
    std::string key = "p" + std::to_string(p) + "-" + std::to_string(s);
    rows.push_back(json{{"t", t}, {"f", "send"}, {"type", "invoke"}, {"proc", p}, {"broker", broker},
                        {"queue", queue}, {"key", key}, {"seq", s}});
    rows.push_back(json{{"t", t + 1}, {"f", "send"}, {"type", type}, {"proc", p}, {"broker", broker},
                        {"queue", queue}, {"key", key}, {"seq", s}, {"detail", "timeout"}});
    t += 2;
  }
  void drain(const std::string& broker, int queue, int64_t offset, const std::string& key) {
    rows.push_back(json{{"t", t++}, {"f", "drain"}, {"type", "ok"}, {"proc", "drain"}, {"broker", broker},
                        {"queue", queue}, {"offset", offset}, {"key", key}});
  }
  void drain_done() { rows.push_back(json{{"t", t++}, {"f", "drain"}, {"type", "info"}, {"detail", "done"}}); }
  // Drains a queue holding these seqs of producer `p` at offsets 0, 1, 2, ...
  void drain_seqs(int p, const std::string& broker, int queue, const std::vector<int64_t>& seqs) {
    for (size_t i = 0; i < seqs.size(); ++i)
      drain(broker, queue, static_cast<int64_t>(i), "p" + std::to_string(p) + "-" + std::to_string(seqs[i]));
  }
};

size_t count_kind(const Report& r, const std::string& kind) {
  size_t n = 0;
  for (const auto& v : r.violations) n += v.kind == kind;
  return n;
}

TEST_CASE("a clean history passes with every count right") {
  H h;
  for (int s = 0; s < 5; ++s) h.ack(0, s, "b1", 0, s);
  h.drain_seqs(0, "b1", 0, {0, 1, 2, 3, 4});
  h.drain_done();
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK(r.ok());
  CHECK(r.attempted == 5);
  CHECK(r.acknowledged == 5);
  CHECK(r.drained == 5);
  CHECK(r.lost == 0);
  CHECK(r.moved == 0);
  CHECK(r.order_violations == 0);
  CHECK(r.duplicates == 0);
  CHECK(r.drain_done);
}

TEST_CASE("an acknowledged message that was never drained is lost") {
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.ack(0, 1, "b1", 0, 1);
  h.ack(0, 2, "b1", 0, 2);
  h.drain("b1", 0, 0, "p0-0");
  h.drain("b1", 0, 1, "p0-2");  // p0-1 vanished and p0-2 slid down: lost and moved
  h.drain_done();
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK_FALSE(r.ok());
  CHECK(r.lost == 1);
  REQUIRE(count_kind(r, "lost") == 1);
  for (const auto& v : r.violations)
    if (v.kind == "lost") CHECK(v.key == "p0-1");
  CHECK(r.moved == 2);  // offset 1 holds p0-2, and p0-2's own offset 2 is gone
  CHECK(r.text().find("lost 1") != std::string::npos);
}

TEST_CASE("unknown and failed outcomes are never lost; stored unknowns are counted") {
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.outcome("unknown", 0, 1, "b1", 0);  // not stored
  h.outcome("unknown", 0, 1, "b1", 0);  // stored after all (the drain finds it)
  h.outcome("fail", 0, 2, "b1", 0);
  h.drain("b1", 0, 0, "p0-0");
  h.drain("b1", 0, 1, "p0-1");
  h.drain_done();
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK(r.ok());
  CHECK(r.lost == 0);
  CHECK(r.unknown == 2);
  CHECK(r.failed == 1);
  CHECK(r.unknown_keys_stored == 1);
  CHECK(r.attempted == 4);
  CHECK(r.acknowledged == 1);
}

TEST_CASE("an acknowledged offset holding another key is moved") {
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.ack(1, 0, "b1", 1, 0);
  h.drain("b1", 0, 0, "p0-0");
  h.drain("b1", 1, 0, "p9-9");  // someone else's message where p1-0 was acknowledged
  h.drain("b1", 1, 1, "p1-0");  // p1-0 itself is there, one further on
  h.drain_done();
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK_FALSE(r.ok());
  CHECK(r.moved == 1);
  CHECK(r.lost == 0);
  REQUIRE(count_kind(r, "moved") == 1);
  for (const auto& v : r.violations)
    if (v.kind == "moved") {
      CHECK(v.key == "p1-0");
      CHECK(v.offset == 0);
      CHECK(v.detail.find("p9-9") != std::string::npos);
    }
}

TEST_CASE("duplicates are counted, not errors") {
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.ack(0, 1, "b1", 0, 2);  // an unknown first attempt stored p0-1 at offset 1 too
  h.drain_seqs(0, "b1", 0, {0, 1, 1});
  h.drain("b1", 0, 3, "p0-1");  // and a third copy
  h.drain_done();
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK(r.ok());
  CHECK(r.duplicates == 2);
  CHECK(r.drained == 4);
  CHECK(r.drained_keys == 2);
}

TEST_CASE("order: a seq before a smaller new one is a violation; retry repeats are not") {
  SUBCASE("0 2 1 3: one violation") {
    H h;
    h.drain_seqs(0, "b1", 0, {0, 2, 1, 3});
    h.drain_done();
    Report r = check_rows(h.rows);
    INFO(r.text());
    CHECK(r.order_violations == 1);
    CHECK_FALSE(r.ok());
    REQUIRE(count_kind(r, "order") == 1);
    for (const auto& v : r.violations)
      if (v.kind == "order") CHECK(v.key == "p0-1");
  }
  SUBCASE("4 5 5 6 (a retry after an unknown outcome) is fine") {
    H h;
    h.drain_seqs(0, "b1", 0, {4, 5, 5, 6});
    h.drain_done();
    Report r = check_rows(h.rows);
    INFO(r.text());
    CHECK(r.order_violations == 0);
    CHECK(r.duplicates == 1);
    CHECK(r.ok());
  }
  SUBCASE("5 6 5 (the first attempt stored late) is fine") {
    H h;
    h.drain_seqs(0, "b1", 0, {5, 6, 5});
    h.drain_done();
    CHECK(check_rows(h.rows).order_violations == 0);
  }
  SUBCASE("producers interleaved in one queue are judged apart") {
    H h;
    h.drain("b1", 0, 0, "p0-0");
    h.drain("b1", 0, 1, "p1-7");
    h.drain("b1", 0, 2, "p0-1");
    h.drain("b1", 0, 3, "p1-8");
    h.drain("b1", 0, 4, "p1-3");  // p1 goes back
    h.drain_done();
    CHECK(check_rows(h.rows).order_violations == 1);
  }
  SUBCASE("the same seqs in two queues are two producers' business") {
    H h;
    h.drain_seqs(0, "b1", 0, {0, 1});
    h.drain_seqs(0, "b1", 1, {0, 1});
    h.drain_done();
    CHECK(check_rows(h.rows).order_violations == 0);
  }
}

TEST_CASE("unavailability windows per fault, worst and median per kind") {
  H h;
  auto ok = [&h](const std::string& g, int64_t start, int64_t end) {
    h.rows.push_back(json{{"t", start}, {"f", "send"}, {"type", "invoke"}, {"proc", 1}, {"broker", g},
                          {"queue", 0}, {"key", "p1-" + std::to_string(start)}});
    h.rows.push_back(json{{"t", end}, {"f", "send"}, {"type", "ok"}, {"proc", 1}, {"broker", g}, {"queue", 0},
                          {"key", "p1-" + std::to_string(start)}, {"offset", start}});  // no "start": paired
  };
  auto consume = [&h](const std::string& g, int64_t t, int64_t born) {
    h.rows.push_back(json{{"t", t}, {"f", "consume"}, {"type", "ok"}, {"proc", "c"}, {"broker", g},
                          {"queue", 0}, {"offset", t}, {"key", "x"}, {"born", born}});
  };
  auto fault = [&h](int64_t t, const std::string& kind, json groups) {
    h.rows.push_back(json{{"t", t}, {"f", "fault"}, {"type", "info"}, {"fault", kind}, {"groups", groups}});
  };
  ok("b1", 900, 950);     // before the first fault
  ok("b2", 900, 950);
  fault(1000, "kill9", {"b1"});
  consume("b1", 1050, 800);  // backlog sent before the fault: does not end the window
  ok("b1", 990, 1200);       // invoked before the fault: does not end the window either
  ok("b1", 1100, 1300);      // -> 300
  consume("b1", 1500, 1100);  // -> 500
  fault(5000, "kill9", {"b1", "b2"});
  ok("b1", 5000, 5100);       // invoke at the fault time counts -> 100
  ok("b2", 5200, 5900);       // -> 900
  consume("b1", 5200, 5000);  // -> 200
  consume("b2", 6000, 5200);  // -> 1000
  h.rows.push_back(json{{"t", 7000}, {"f", "heal"}, {"type", "info"}, {"fault", "kill9"}});
  fault(8000, "stop", {"*"});  // every group
  ok("b1", 8100, 8400);        // -> 400; b2 never recovers
  std::stable_sort(h.rows.begin(), h.rows.end(), [](const json& a, const json& b) { return a["t"] < b["t"]; });
  Report r = check_rows(h.rows);
  INFO(r.text());
  CHECK(r.faults == 3);
  REQUIRE(r.windows.size() == 5);
  REQUIRE(r.window_stats.count("kill9"));
  REQUIRE(r.window_stats.count("stop"));
  const WindowStats& k = r.window_stats["kill9"];
  CHECK(k.count == 3);
  CHECK(k.worst_send_ms == std::optional<int64_t>(900));
  CHECK(k.median_send_ms == std::optional<int64_t>(300));
  CHECK(k.worst_consume_ms == std::optional<int64_t>(1000));
  CHECK(k.median_consume_ms == std::optional<int64_t>(500));
  CHECK(k.never_send == 0);
  const WindowStats& s = r.window_stats["stop"];
  CHECK(s.count == 2);
  CHECK(s.worst_send_ms == std::optional<int64_t>(400));
  CHECK(s.median_send_ms == std::optional<int64_t>(400));
  CHECK(s.never_send == 1);
  CHECK(s.never_consume == 2);
  CHECK_FALSE(s.worst_consume_ms.has_value());
  // The first window is the first fault's.
  CHECK(r.windows[0].group == "b1");
  CHECK(r.windows[0].send_ms == std::optional<int64_t>(300));
  CHECK(r.windows[0].consume_ms == std::optional<int64_t>(500));
  std::string text = r.text();
  CHECK(text.find("kill9: 3 windows; send worst 900 ms, median 300 ms") != std::string::npos);
  CHECK(text.find("never recovered 1") != std::string::npos);
  json j = r.to_json();
  CHECK(j["window_stats"]["kill9"]["worst_send_ms"] == 900);
  CHECK(j["window_stats"]["stop"]["worst_consume_ms"].is_null());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

TEST_CASE("history file: a torn last line is tolerated with a note") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.drain("b1", 0, 0, "p0-0");
  h.drain_done();
  std::string text;
  for (const auto& r : h.rows) text += r.dump() + "\n";
  text += R"({"t":5000,"f":"send","type":"inv)";  // the harness died mid-write
  write_file(path, text);
  Report r = check_history(path);
  INFO(r.text());
  CHECK(r.ok());
  CHECK(r.malformed.empty());
  CHECK(r.rows == 4);
  bool noted = false;
  for (const auto& n : r.notes) noted = noted || (n.find("line 5") != std::string::npos && n.find("torn") != std::string::npos);
  CHECK_MESSAGE(noted, "expected a note about torn line 5, got: " << r.text());
}

TEST_CASE("history file: malformed rows are reported with their line numbers") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  write_file(path,
             "{\"t\":1,\"f\":\"note\",\"type\":\"info\"}\n"
             "garbage\n"
             "{\"t\":2,\"f\":\"send\",\"type\":\"ok\",\"key\":\"p0-0\",\"broker\":\"b1\",\"queue\":0}\n"
             "[1,2]\n"
             "{\"f\":\"drain\",\"type\":\"ok\"}\n"
             "{\"t\":3,\"f\":\"drain\",\"type\":\"info\",\"detail\":\"done\"}\n");
  Report r = check_history(path);
  INFO(r.text());
  CHECK_FALSE(r.ok());
  REQUIRE(r.malformed.size() == 4);
  CHECK(r.malformed[0].starts_with("line 2:"));
  CHECK(r.malformed[1].starts_with("line 3:"));
  CHECK(r.malformed[1].find("offset") != std::string::npos);
  CHECK(r.malformed[2].starts_with("line 4:"));
  CHECK(r.malformed[3].starts_with("line 5:"));
  CHECK(r.text().find("malformed: line 2") != std::string::npos);
}

TEST_CASE("a history that cannot be opened is not ok") {
  Report r = check_history("/nonexistent/dir/history.jsonl");
  CHECK_FALSE(r.ok());
  REQUIRE(r.malformed.size() == 1);
  CHECK(r.malformed[0].find("cannot open") != std::string::npos);
}

TEST_CASE("History: concurrent writers give whole lines, each with a time") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  {
    History hist(path);
    std::vector<std::thread> ts;
    for (int p = 0; p < 4; ++p)
      ts.emplace_back([&hist, p] {
        for (int s = 0; s < 200; ++s)
          hist.write(json{{"f", "send"}, {"type", "invoke"}, {"proc", p}, {"broker", "b1"}, {"queue", p},
                          {"key", "p" + std::to_string(p) + "-" + std::to_string(s)}, {"seq", s},
                          {"detail", std::string(100, 'x')}});
      });
    for (auto& t : ts) t.join();
    CHECK(hist.rows() == 800);
  }
  Report r = check_history(path);
  INFO(r.text());
  CHECK(r.malformed.empty());
  CHECK(r.notes.size() == 1);  // only "no completed drain"
  CHECK(r.attempted == 800);
}

// The drain's sabotage (WorkloadOptions::sabotage_drop_drained_every) forgets every N-th message it
// reads. A history with that effect, written through History as the workload writes it, must show
// exactly those messages as lost.
TEST_CASE("sabotage: a drain that forgets every 3rd message is seen as 1/3 lost") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  const int kProducers = 4, kPerProducer = 30, kEvery = 3;
  {
    History hist(path);
    for (int p = 0; p < kProducers; ++p)
      for (int s = 0; s < kPerProducer; ++s) {
        std::string key = "p" + std::to_string(p) + "-" + std::to_string(s);
        hist.write(json{{"f", "send"}, {"type", "invoke"}, {"proc", p}, {"broker", "b1"}, {"queue", p}, {"key", key}});
        hist.write(json{{"f", "send"}, {"type", "ok"}, {"proc", p}, {"broker", "b1"}, {"queue", p}, {"key", key},
                        {"offset", s}});
      }
    uint64_t counter = 0;
    for (int p = 0; p < kProducers; ++p)
      for (int s = 0; s < kPerProducer; ++s) {
        if (++counter % kEvery == 0) continue;
        hist.write(json{{"f", "drain"}, {"type", "ok"}, {"broker", "b1"}, {"queue", p}, {"offset", s},
                        {"key", "p" + std::to_string(p) + "-" + std::to_string(s)}});
      }
    hist.write(json{{"f", "drain"}, {"type", "info"}, {"detail", "done"}});
  }
  Report r = check_history(path);
  INFO(r.text());
  CHECK_FALSE(r.ok());
  CHECK(r.lost == kProducers * kPerProducer / kEvery);
  CHECK(r.acknowledged == kProducers * kPerProducer);
  CHECK(r.order_violations == 0);  // gaps are losses, not disorder
}


// ---- the streaming reader (check_history scans lines itself; nlohmann only for the odd ones) ----

// The same rows through check_rows (nlohmann) and through the file reader must give the same
// report, whatever shape the lines take: escapes, non-ASCII, floats, nested values, repeated names,
// numbers beyond int64, blanks and CRLF.
TEST_CASE("history file: the line scanner and nlohmann agree on odd but valid rows") {
  const std::vector<std::string> lines = {
      R"({"t":1,"f":"note","type":"info","brokers":["b1","bé",3]})",
      R"({"t":2,"f":"send","type":"invoke","proc":0,"broker":"b1","queue":0,"key":"p0-0","seq":0})",
      R"({"t":3,"f":"send","type":"ok","proc":0,"broker":"b1","queue":0,"key":"p0-0","offset":0})",
      R"({ "t" : 4 , "f" : "send" , "type" : "invoke" , "proc" : "x" , "broker" : "b1" , "queue" : 1 , "key" : "p0-\u0031" })",
      "{\"t\":5,\"f\":\"send\",\"type\":\"ok\",\"proc\":\"x\",\"broker\":\"b1\",\"queue\":1,\"key\":\"p0-1\",\"offset\":0}\r",
      R"({"t":6,"f":"send","type":"invoke","proc":1.5,"broker":"bé","queue":0,"key":"p1-0"})",
      R"({"t":7,"f":"send","type":"ok","proc":1.5,"broker":"bé","queue":0,"key":"p1-0","offset":5,"status":"FLUSH_DISK_TIMEOUT"})",
      R"({"t":8,"f":"send","type":"invoke","proc":true,"broker":"b\"q","queue":0,"key":"p2-0"})",
      R"({"t":9,"f":"send","type":"ok","proc":true,"broker":"b\"q","queue":0,"key":"p2-0","offset":18446744073709551615})",
      R"({"t":10,"f":"send","type":"ok","broker":"b1","queue":1.0,"key":"p3-0","offset":0})",  // malformed
      R"({"t":11,"f":"send","type":"fail","key":"p4-0","extra":{"a":[1,{"b":null}]},"t":12})",
      R"({"t":13,"f":"send","type":"unknown","key":"p4-1","detail":"tab\there"})",
      "",
      "   ",
      R"([1,2])",
      R"({"t":-0,"f":"consume","type":"ok","broker":"b1","born":-5})",
      R"({"t":14,"f":"fault","type":"info","fault":"kill9","groups":["b1"],"hosts":["h0"]})",
      R"({"t":15,"f":"fault","type":"info","fault":"stop","groups":"b1"})",
      R"({"t":16,"f":"consume","type":"ok","broker":"b1","born":16})",
      R"({"t":17,"f":"send","type":"invoke","proc":0,"broker":"b1","queue":0,"key":"p0-2"})",
      R"({"t":18,"f":"send","type":"ok","proc":0,"broker":"b1","queue":0,"key":"p0-2","offset":2})",
      R"({"t":19,"f":"mystery","type":"info"})",
      R"({"t":20,"f":"drain","type":"ok","broker":"b1","queue":0,"offset":0,"key":"p0-0"})",
      R"({"t":21,"f":"drain","type":"ok","broker":"b1","queue":0,"offset":0,"key":"p0-9"})",
      R"({"t":22,"f":"drain","type":"ok","broker":"b1","queue":1,"offset":0,"key":"p0-1"})",
      R"({"t":23,"f":"drain","type":"ok","broker":"bé","queue":0,"offset":5,"key":"p1-0"})",
      R"({"t":24,"f":"drain","type":"ok","broker":"b1","queue":0,"offset":2,"key":"p4-1"})",
      R"({"t":25,"f":"drain","type":"info","detail":"offset moved","from":3,"to":9})",
      R"({"t":26,"f":"drain","type":"info","detail":"done","queues":[{"broker":"b1"}]})",
  };
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  std::string text;
  std::vector<json> rows;
  for (const auto& l : lines) {
    text += l + "\n";
    // check_rows takes parsed rows and has no blank lines: give it what the file reader sees.
    if (l.find_first_not_of(" \t\r") != std::string::npos) rows.push_back(json::parse(l));
  }
  write_file(path, text);
  Report from_file = check_history(path);
  INFO(from_file.text());
  // Line numbers differ only through the two blank lines (13, 14): renumber check_rows' rows.
  std::vector<json> padded;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (padded.size() == 12) {
      padded.push_back(json{{"t", 0}, {"f", "heal"}, {"type", "info"}});  // stand-ins for the blanks
      padded.push_back(json{{"t", 0}, {"f", "heal"}, {"type", "info"}});
    }
    padded.push_back(rows[i]);
  }
  Report from_rows = check_rows(padded);
  from_rows.rows -= 2;  // the stand-ins
  CHECK(from_file.to_json() == from_rows.to_json());
  CHECK(from_file.text() == from_rows.text());
  // And what it says is right.
  CHECK(from_file.malformed.size() == 2);  // line 10 (float queue), line 15 (not an object)
  CHECK(from_file.acknowledged == 5);
  CHECK(from_file.moved == 1);  // p0-2's offset holds p4-1 (p0-0's holds p0-0: the first drained wins)
  CHECK(from_file.lost == 2);   // p2-0 and p0-2
  CHECK(from_file.unknown_keys_stored == 1);
  bool twice = false;
  for (const auto& n : from_file.notes) twice = twice || n.find("drained twice with different keys (p0-0, p0-9)") != std::string::npos;
  CHECK(twice);
}

TEST_CASE("history file: lines longer than the read block, keys of megabytes") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  std::string big(3 << 20, 'k');  // 3 MiB: spans several read blocks
  std::string big2 = "p1-" + std::string(70000, '7');
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.rows.push_back(json{{"t", 10}, {"f", "send"}, {"type", "invoke"}, {"proc", 0}, {"broker", "b1"}, {"queue", 1},
                        {"key", big}});
  h.rows.push_back(json{{"t", 11}, {"f", "send"}, {"type", "ok"}, {"proc", 0}, {"broker", "b1"}, {"queue", 1},
                        {"key", big}, {"offset", 0}});
  h.rows.push_back(json{{"t", 12}, {"f", "send"}, {"type", "ok"}, {"proc", 0}, {"broker", "b1"}, {"queue", 2},
                        {"key", big + "x"}, {"offset", 0}});
  h.rows.push_back(json{{"t", 13}, {"f", "send"}, {"type", "ok"}, {"proc", 0}, {"broker", "b1"}, {"queue", 3},
                        {"key", big2}, {"offset", 0}});
  h.drain("b1", 0, 0, "p0-0");
  h.drain("b1", 1, 0, big);
  h.drain("b1", 3, 0, big2);
  h.drain_done();
  std::string text;
  for (size_t i = 0; i < h.rows.size(); ++i) {
    text += h.rows[i].dump() + "\n";
    if (i == 3) text += "{\"t\":1," + std::string(2 << 20, ' ') + "\"f\":\n";  // line 5: a long broken line
  }
  write_file(path, text.substr(0, text.size() - 1));  // and no final newline
  Report r = check_history(path);
  CHECK(r.rows == 10);
  REQUIRE(r.malformed.size() == 1);
  CHECK(r.malformed[0] == "line 5: not JSON");
  CHECK(r.lost == 1);
  REQUIRE(count_kind(r, "lost") == 1);
  for (const auto& v : r.violations)
    if (v.kind == "lost") {
      CHECK(v.key.size() == big.size() + 1);
      CHECK(v.key == big + "x");
      CHECK(v.queue == 2);
    }
  CHECK(r.moved == 0);
  CHECK(r.order_violations == 0);
  CHECK(r.drained_keys == 3);
  CHECK(r.drain_done);
}

TEST_CASE("history file: CRLF, blank lines, and a torn line followed by blanks") {
  test::TempDir dir;
  std::string path = dir.path() + "/h.jsonl";
  H h;
  h.ack(0, 0, "b1", 0, 0);
  h.drain("b1", 0, 0, "p0-0");
  h.drain_done();
  std::string text;
  for (const auto& row : h.rows) text += row.dump() + "\r\n\r\n";
  text += "{\"t\":9,\"f\":\"dra\r\n \r\n\t\n";  // line 9 torn; only blanks after it
  write_file(path, text);
  Report r = check_history(path);
  INFO(r.text());
  CHECK(r.ok());
  CHECK(r.rows == 4);
  CHECK(r.malformed.empty());
  REQUIRE_FALSE(r.notes.empty());
  CHECK(r.notes[0].starts_with("line 9: torn last line"));
}

TEST_CASE("sends without \"start\" pair with the last invoke of the same proc and key") {
  H h;
  auto row = [&h](int64_t t, const char* type, json proc, const std::string& key) {
    json j{{"t", t}, {"f", "send"}, {"type", type}, {"broker", "b1"}, {"queue", 0}, {"key", key}};
    if (!proc.is_null()) j["proc"] = proc;
    if (std::string(type) == "ok") j["offset"] = t;
    h.rows.push_back(j);
  };
  row(100, "invoke", 1, "p1-0");
  row(200, "invoke", "other", "p1-0");  // another worker sends the same key later
  row(300, "invoke", json(), "p1-0");   // and one without a proc
  row(5000, "fault", json(), "");
  h.rows.back() = json{{"t", 1000}, {"f", "fault"}, {"type", "info"}, {"fault", "kill9"}, {"groups", {"b1"}}};
  row(1300, "ok", 1, "p1-0");  // its invoke was at 100: before the fault, does not end the window
  row(1400, "invoke", 2, "p2-0");
  row(1500, "ok", json(), "p1-0");  // the proc-less invoke at 300: no
  row(1600, "ok", "other", "p1-0");  // invoke at 200: no
  row(1700, "ok", 2, "p2-0");        // invoke at 1400: the window ends at 1700 -> 700
  Report r = check_rows(h.rows);
  INFO(r.text());
  REQUIRE(r.windows.size() == 1);
  CHECK(r.windows[0].send_ms == std::optional<int64_t>(700));
}

// A soak-sized history in miniature: 300k sends of 12 producers in the workload's row format, with
// planted defects, written as the workload writes it and judged from the file. No speed assertion:
// the time and peak RSS are printed.
TEST_CASE("a large synthetic history (300k sends) is judged right") {
  test::TempDir dir;
  std::string path = dir.path() + "/big.jsonl";
  const int kProducers = 12, kSends = 300000, kPerProducer = kSends / kProducers;
  auto group = [](int p) { return std::string("broker-") + static_cast<char>('a' + p / 4); };
  auto key = [](int p, int s) { return "p" + std::to_string(p) + "-" + std::to_string(s); };
  int64_t t0 = 1765000000000;
  int64_t lost = 0, moved = 0, order = 0, dups = 0, faults = 0;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < kSends; ++i) {
      int p = i % kProducers, s = i / kProducers;
      int64_t t = t0 + i;
      if (i > 0 && i % 50000 == 0) {
        out << "{\"f\":\"fault\",\"fault\":\"kill9\",\"groups\":[\"*\"],\"hosts\":[\"h0\"],\"n\":" << faults
            << ",\"t\":" << t << ",\"type\":\"info\"}\n";
        ++faults;
      }
      std::string line =
          "{\"addr\":\"10.77.0.2:10911\",\"broker\":\"" + group(p) + "\",\"f\":\"send\",\"key\":\"" + key(p, s) + "\",";
      out << line << "\"proc\":" << p << ",\"queue\":" << p % 4 << ",\"seq\":" << s << ",\"t\":" << t
          << ",\"topic\":\"FaultTopic\",\"type\":\"invoke\"}\n";
      out << line << "\"offset\":" << s << ",\"proc\":" << p << ",\"queue\":" << p % 4 << ",\"seq\":" << s
          << ",\"start\":" << t << ",\"status\":\"SEND_OK\",\"t\":" << t + 3
          << ",\"topic\":\"FaultTopic\",\"type\":\"ok\"}\n";
      out << "{\"addr\":\"10.77.0.2:10911\",\"born\":" << t << ",\"broker\":\"" << group(p)
          << "\",\"f\":\"consume\",\"key\":\"" << key(p, s) << "\",\"offset\":" << s << ",\"proc\":\"c-" << group(p)
          << "\",\"queue\":" << p % 4 << ",\"t\":" << t + 5 << ",\"topic\":\"FaultTopic\",\"type\":\"ok\"}\n";
    }
    for (int p = 0; p < kProducers; ++p) {
      std::vector<int> at(kPerProducer);  // at[offset] = seq drained there
      for (int s = 0; s < kPerProducer; ++s) at[s] = s;
      if (p == 7) {  // two neighbours swapped: both moved, one order violation
        std::swap(at[500], at[501]);
        moved += 2;
        order += 1;
      }
      for (int s = 0; s < kPerProducer; ++s) {
        if (p == 5 && s % 1000 == 999) {  // forgotten by the drain: lost
          ++lost;
          continue;
        }
        int copies = (p == 2 && s % 5000 == 0) ? 2 : 1;  // a second copy further on: a duplicate
        for (int c = 0; c < copies; ++c)
          out << "{\"addr\":\"10.77.0.2:10911\",\"broker\":\"" << group(p) << "\",\"f\":\"drain\",\"key\":\""
              << key(p, at[s]) << "\",\"offset\":" << (c == 0 ? s : kPerProducer + s)
              << ",\"proc\":\"drain\",\"queue\":" << p % 4 << ",\"t\":" << t0 + kSends + s
              << ",\"topic\":\"FaultTopic\",\"type\":\"ok\"}\n";
        if (copies == 2) ++dups;
      }
    }
    out << "{\"detail\":\"done\",\"f\":\"drain\",\"proc\":\"drain\",\"queues\":[],\"t\":" << t0 + 2 * kSends
        << ",\"type\":\"info\"}\n";
  }
  auto began = std::chrono::steady_clock::now();
  Report r = check_history(path);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  MESSAGE("checked " << r.rows << " rows (" << kSends << " sends) in " << secs << " s; peak RSS of the test so far "
                     << ru.ru_maxrss / 1024 << " MiB");
  CHECK(r.malformed.empty());
  CHECK(r.attempted == kSends);
  CHECK(r.acknowledged == kSends);
  CHECK(r.acked_keys == kSends);
  CHECK(r.consumed == kSends);
  CHECK(r.faults == faults);
  CHECK(r.lost == lost);
  CHECK(r.moved == moved);
  CHECK(r.order_violations == order);
  CHECK(r.duplicates == dups);
  CHECK(r.drained == kSends - lost + dups);
  CHECK(r.drain_done);
  CHECK(r.violations.size() == static_cast<size_t>(lost + moved + order));
  REQUIRE(r.window_stats.count("kill9"));
  const WindowStats& ws = r.window_stats["kill9"];
  CHECK(ws.count == 3 * faults);  // "*": every group
  CHECK(ws.never_send == 0);
  CHECK(ws.never_consume == 0);
  // Each group's next send is invoked within 12 ms of the fault and completes 3 ms later.
  CHECK(*ws.worst_send_ms <= 15);
  CHECK(*ws.worst_consume_ms <= 17);
}

}  // namespace
}  // namespace mq::fault

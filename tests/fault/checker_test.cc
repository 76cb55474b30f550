// The fault harness's checkers on synthetic histories (no sockets): each verdict is shown to fire
// on a history that has the defect and to stay quiet on one that does not. A checker that cannot
// see a lost message is a defect of the harness.
#include <doctest/doctest.h>

#include <fstream>
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

}  // namespace
}  // namespace mq::fault

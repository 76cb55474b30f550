#include <doctest/doctest.h>

#include "codec/fastjson.h"

using namespace mq;

TEST_CASE("fastjson: unquoted numeric keys and object keys parse") {
  auto r = parse_fastjson(R"({"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"x":-1.5e2})");
  REQUIRE(r.ok());
  CHECK((*r)["brokerAddrs"]["0"] == "127.0.0.1:10911");
  CHECK((*r)["brokerAddrs"]["1"] == "127.0.0.1:10921");
  CHECK((*r)["x"].get<double>() == -150.0);
  auto o = parse_fastjson(R"({"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"minOffset":0,"maxOffset":5}}})");
  REQUIRE(o.ok());
  auto& table = (*o)["offsetTable"];
  REQUIRE(table.size() == 1);
  auto key = parse_fastjson(table.begin().key());
  REQUIRE(key.ok());
  CHECK((*key)["topic"] == "t");
  CHECK(table.begin().value()["maxOffset"] == 5);
}

TEST_CASE("fastjson: invalid input is an error, not a crash") {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1}}", "tru", "\"abc", "{\"a\":01x}"}) {
    CHECK_FALSE(parse_fastjson(bad).ok());
  }
  std::string deep(10000, '[');
  CHECK_FALSE(parse_fastjson(deep).ok());
}

TEST_CASE("dump_fastjson leaves keys of chosen maps unquoted") {
  nlohmann::json j;
  j["brokerAddrs"]["0"] = "a:1";
  j["brokerName"] = "b";
  j["other"]["0"] = 1;
  CHECK(dump_fastjson(j, {"brokerAddrs"}) == R"({"brokerAddrs":{0:"a:1"},"brokerName":"b","other":{"0":1}})");
  CHECK(dump_fastjson(j) == R"({"brokerAddrs":{"0":"a:1"},"brokerName":"b","other":{"0":1}})");
}

TEST_CASE("json accessors accept numbers written as strings") {
  auto j = parse_fastjson(R"({"a":"12","b":7,"c":"true","d":true})");
  REQUIRE(j.ok());
  CHECK(json_int(*j, "a") == 12);
  CHECK(json_int(*j, "b") == 7);
  CHECK(json_int(*j, "zz", -1) == -1);
  CHECK(json_bool(*j, "c"));
  CHECK(json_bool(*j, "d"));
}

TEST_CASE("json_int of a float outside int64's range is the fallback (found by libFuzzer)") {
  // A register body whose dataVersion timestamp has ~100 digits: parsed as a double, 1.8e97.
  auto j = parse_fastjson(R"({"t":1795310905555555555555555555555555555555555555555555555555555555555555555555555555555555555555555554304,"n":-1e300,"f":12.9,"m":-9223372036854775808.0})");
  REQUIRE(j.ok());
  CHECK(json_int(*j, "t", -7) == -7);
  CHECK(json_int(*j, "n", -7) == -7);
  CHECK(json_int(*j, "f") == 12);
  CHECK(json_int(*j, "m") == INT64_MIN);
}

TEST_CASE("invalid UTF-8 from a peer never makes a dump throw (found by libFuzzer)") {
  // An object used as a fastjson map key, holding a byte that is not UTF-8.
  std::string text = "{{\"k\":\"\xFF\"}:1,\"s\":\"\xC3\"}";
  auto j = parse_fastjson(text);
  REQUIRE(j.ok());
  std::string out;
  CHECK_NOTHROW(out = j->dump(-1, ' ', false, kJsonReplace));
  CHECK(out.find("\xEF\xBF\xBD") != std::string::npos);  // U+FFFD stands in for the bad byte
  CHECK_NOTHROW(dump_fastjson(*j));
}

// Found by fuzz_json: a heartbeat whose field held an object with invalid UTF-8 inside made
// json_string's dump() throw, and the exception ended the broker.
TEST_CASE("json_string of a non-string value with invalid UTF-8 does not throw") {
  auto j = parse_fastjson(std::string("{\"clientID\":{\"a\":\"x\xCE\"}}"));
  REQUIRE(j.ok());
  std::string s;
  CHECK_NOTHROW(s = json_string(*j, "clientID", ""));
  CHECK(s.find("\"a\"") != std::string::npos);
}

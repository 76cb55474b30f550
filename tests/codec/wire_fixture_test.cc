// Decodes every frame that Java RocketMQ 4.9.4 and ali-ons put on the wire (shared/fixtures/wire),
// re-encodes it and checks nothing is lost, and parses the bodies our NameServer and broker read.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "codec/fastjson.h"
#include "codec/remoting_command.h"
#include "tests/support/fixture_files.h"

using namespace mq;
namespace fs = std::filesystem;

TEST_CASE("every captured frame decodes, and re-encoding keeps its fields") {
  fs::path dir = fs::path(MQ_FIXTURES_DIR) / "wire";
  REQUIRE(fs::exists(dir));
  int frames = 0, with_numbers = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".jsonl") continue;
    std::istringstream lines(test::read_file(entry.path().string()));
    std::string line;
    while (std::getline(lines, line)) {
      auto rec = nlohmann::json::parse(line);
      std::string header = rec["header"];
      std::string body = test::base64_decode(rec["body_b64"].get<std::string>());
      auto cmd = decode_json_header(header);
      REQUIRE_MESSAGE(cmd.ok(), entry.path().filename().string() << ": " << header);
      CHECK(cmd->code == rec["code"].get<int>());
      CHECK(cmd->opaque == rec["opaque"].get<int>());
      CHECK(cmd->flag == rec["flag"].get<int>());
      if (header.find("\":false") != std::string::npos || header.find("\"d\":4") != std::string::npos)
        ++with_numbers;
      cmd->body = body;
      std::string again = encode_frame(*cmd);
      auto back = decode_frame(std::string_view(again).substr(4));
      REQUIRE(back.ok());
      CHECK(back->code == cmd->code);
      CHECK(back->ext_fields.entries() == cmd->ext_fields.entries());
      CHECK(back->body == body);
      ++frames;
    }
  }
  CHECK(frames == 271);  // the fixture README's count
  CHECK(with_numbers > 0);  // ali-ons frames with non-string extFields were among them
}

TEST_CASE("route bodies in quoted and unquoted key forms both parse") {
  fs::path dir = fs::path(MQ_FIXTURES_DIR) / "wire";
  int routes = 0;
  for (const char* file : {"java-producer.jsonl", "java-producer-old-version.jsonl", "alions-producer.jsonl"}) {
    std::istringstream lines(test::read_file((dir / file).string()));
    std::string line;
    std::vector<int> route_opaques;
    while (std::getline(lines, line)) {
      auto rec = nlohmann::json::parse(line);
      if (!rec["is_response"].get<bool>() && rec["code"] == 105) route_opaques.push_back(rec["opaque"]);
      if (rec["is_response"].get<bool>() && rec["code"] == 0 && rec["body_length"].get<int>() > 0 &&
          std::find(route_opaques.begin(), route_opaques.end(), rec["opaque"].get<int>()) != route_opaques.end()) {
        auto body = parse_fastjson(test::base64_decode(rec["body_b64"].get<std::string>()));
        REQUIRE(body.ok());
        CHECK((*body)["brokerDatas"][0]["brokerAddrs"]["0"] == "127.0.0.1:10911");
        ++routes;
      }
    }
  }
  CHECK(routes >= 3);
}

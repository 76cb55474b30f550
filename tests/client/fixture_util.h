// Reading shared/fixtures/wire/*.jsonl: one captured remoting frame per line.
#pragma once
#include "tests/support/fixture_files.h"
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/remoting_command.h"

namespace mq::test {

struct CapturedFrame {
  std::string roles;
  RemotingCommand cmd;  // header decoded, body attached
};

inline std::vector<CapturedFrame> load_frames(const std::string& file) {
  std::ifstream in(std::string(MQ_FIXTURES_DIR) + "/wire/" + file, std::ios::binary);
  std::vector<CapturedFrame> out;
  std::string line;
  while (std::getline(in, line)) {
    auto rec = nlohmann::json::parse(line);
    auto cmd = decode_json_header(rec["header"].get<std::string>());
    if (!cmd.ok()) continue;
    CapturedFrame f;
    f.roles = rec["roles"].get<std::string>();
    f.cmd = std::move(*cmd);
    f.cmd.body = base64_decode(rec["body_b64"].get<std::string>());
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace mq::test

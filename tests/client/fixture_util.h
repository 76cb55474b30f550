// Reading shared/fixtures/wire/*.jsonl: one captured remoting frame per line.
#pragma once
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

inline std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0;
  uint32_t acc = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

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

#include <algorithm>
#include <cstdio>

#include "base/bytes.h"
#include "raft/message.h"
#include "raft/types.h"

namespace mq::raft {

bool Membership::is_voter(NodeId id) const {
  return std::binary_search(voters.begin(), voters.end(), id);
}
bool Membership::is_learner(NodeId id) const {
  return std::binary_search(learners.begin(), learners.end(), id);
}

std::vector<NodeId> Membership::members() const {
  std::vector<NodeId> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  return all;
}

void Membership::normalize() {
  std::sort(voters.begin(), voters.end());
  voters.erase(std::unique(voters.begin(), voters.end()), voters.end());
  std::sort(learners.begin(), learners.end());
  learners.erase(std::unique(learners.begin(), learners.end()), learners.end());
  // A voter listed as a learner too is a voter.
  std::erase_if(learners, [&](NodeId id) { return is_voter(id); });
  std::erase_if(addresses, [&](const auto& a) { return !contains(a.first); });
}

std::string Membership::encode() const {
  std::string out;
  ByteWriter w(out);
  w.u8(1);
  w.u32(static_cast<uint32_t>(voters.size()));
  for (NodeId v : voters) w.u32(v);
  w.u32(static_cast<uint32_t>(learners.size()));
  for (NodeId l : learners) w.u32(l);
  if (!addresses.empty()) {
    out[0] = 2;
    w.u32(static_cast<uint32_t>(addresses.size()));
    for (const auto& [id, addr] : addresses) {
      w.u32(id);
      w.u16(static_cast<uint16_t>(std::min<size_t>(addr.size(), 0xFFFF)));
      w.raw(std::string_view(addr).substr(0, 0xFFFF));
    }
  }
  return out;
}

std::optional<Membership> Membership::decode(std::string_view bytes) {
  ByteReader r(bytes);
  const uint8_t version = r.u8();
  if (version != 1 && version != 2) return std::nullopt;
  Membership m;
  uint32_t nv = r.u32();
  if (!r.ok() || nv > r.remaining() / 4) return std::nullopt;
  for (uint32_t i = 0; i < nv; ++i) m.voters.push_back(r.u32());
  uint32_t nl = r.u32();
  if (!r.ok() || nl > r.remaining() / 4) return std::nullopt;
  for (uint32_t i = 0; i < nl; ++i) m.learners.push_back(r.u32());
  if (version == 2) {
    uint32_t na = r.u32();
    if (!r.ok() || na == 0 || na > r.remaining() / 6) return std::nullopt;
    for (uint32_t i = 0; i < na; ++i) {
      NodeId id = r.u32();
      uint16_t len = r.u16();
      std::string_view a = r.bytes(len);
      if (!r.ok() || !m.addresses.emplace(id, std::string(a)).second) return std::nullopt;
    }
  }
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  Membership sorted = m;
  sorted.normalize();
  if (!(sorted == m)) return std::nullopt;  // we only ever write normalized lists
  return m;
}

std::string to_string(const Membership& m) {
  std::string s = "voters{";
  for (size_t i = 0; i < m.voters.size(); ++i) s += (i ? "," : "") + std::to_string(m.voters[i]);
  s += "} learners{";
  for (size_t i = 0; i < m.learners.size(); ++i)
    s += (i ? "," : "") + std::to_string(m.learners[i]);
  return s + "}";
}

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResponse: return "PreVoteResp";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResponse: return "VoteResp";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResponse: return "HeartbeatResp";
    case MessageType::kPush: return "Push";
    case MessageType::kPushResponse: return "PushResp";
    case MessageType::kTimeoutNow: return "TimeoutNow";
  }
  return "?";
}

const char* to_string(PushType t) {
  switch (t) {
    case PushType::kAppend: return "APPEND";
    case PushType::kCommit: return "COMMIT";
    case PushType::kCompare: return "COMPARE";
    case PushType::kTruncate: return "TRUNCATE";
  }
  return "?";
}

std::string describe(const Message& m) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%u->%u %s%s%s t%lld idx=%lld lt=%lld commit=%lld n=%zu%s%s",
                m.from, m.to, to_string(m.type), m.type == MessageType::kPush ? "/" : "",
                m.type == MessageType::kPush ? to_string(m.push_type) : "",
                static_cast<long long>(m.term.value), static_cast<long long>(m.index.value),
                static_cast<long long>(m.log_term.value), static_cast<long long>(m.commit.value),
                m.entries.size(), m.reject ? " REJECT" : "", m.transfer ? " transfer" : "");
  std::string s = buf;
  if (m.reject && m.type == MessageType::kPushResponse)
    s += " hint=" + std::to_string(m.reject_hint.value) + "/" + std::to_string(m.hint_term.value);
  return s;
}

}  // namespace mq::raft

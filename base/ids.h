// Strong ids: offsets and indexes of different spaces cannot be mixed up by accident.
#pragma once
#include <compare>
#include <cstdint>
#include <functional>

namespace mq {

template <typename Tag, typename Rep = int64_t>
struct StrongId {
  Rep value = 0;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : value(v) {}
  constexpr auto operator<=>(const StrongId&) const = default;
};

// Byte offset in the CommitLog (global across segment files).
using PhyOffset = StrongId<struct PhyOffsetTag>;
// Message index within one ConsumeQueue (what consumers commit).
using QueueOffset = StrongId<struct QueueOffsetTag>;
// Raft log index (1-based; 0 means "none").
using RaftIndex = StrongId<struct RaftIndexTag>;
// Raft term.
using Term = StrongId<struct TermTag>;
// 0 = master, > 0 = slave.
using BrokerId = StrongId<struct BrokerIdTag>;

}  // namespace mq

template <typename Tag, typename Rep>
struct std::hash<mq::StrongId<Tag, Rep>> {
  size_t operator()(const mq::StrongId<Tag, Rep>& id) const noexcept { return std::hash<Rep>{}(id.value); }
};

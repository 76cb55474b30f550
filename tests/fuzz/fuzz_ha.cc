// libFuzzer target: the HA (master-slave replication) wires. Byte 0 picks ONE of them (byte 0 % 3):
//   0  the classic HA stream (broker/ha_protocol.h), what a master sends a slave: byte 0 / 3 picks
//      the chunk size the stream arrives in, byte 1 the slave's CommitLog segment size
//      (1 KiB << (byte 1 % 5), at most 16 KiB: recovery and the in-memory file system copy whole
//      segments, so larger ones only cost time), the rest is the stream (run_fuzzer.sh keeps inputs
//      under 20000 bytes). The slave side is replayed as HaSlave::on_data does it: TransferReader
//      splits frames, each non-empty body is appended with MessageStore::append_replicated (which
//      dispatches the complete records it carries) on the in-memory file system; afterwards the
//      store is read back, closed and must open again. The same stream is also fed to the master's
//      ReportReader.
//   1  the AutoSwitch HA slave -> master stream (broker/autoswitch_ha_protocol.h, MasterSideReader)
//   2  the AutoSwitch HA master -> slave stream (SlaveSideReader)
// For 1 and 2, byte 1 picks the chunk size (1 + (byte 1 >> 1) * 4) and, for 2, the largest body
// (odd: 1 KiB, even: the 4 MiB default); the rest is the stream. A reader fed in chunks must give
// the same frames and the same error as one fed everything at once; the frames, encoded again,
// must be the bytes the reader consumed (the master side: handshake flags other than 1 read as
// unset, so only their state and id are compared); the sizes and offsets a reader promises to check
// hold; a handshake reply's epoch entries are ascending, with end offsets as reference 6.4 derives
// them, survive the epoch file's text (EpochFile::serialize / parse), and give the consistent
// points find_consistent_point must find against themselves and against a prefix of themselves.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/autoswitch_ha_protocol.h"
#include "broker/ha_protocol.h"
#include "store/epoch_file.h"
#include "store/fault_fs.h"
#include "store/message_store.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/store_util.h"

namespace {

namespace as = mq::ha::autoswitch;

void classic(const uint8_t* data, size_t size) {
  const size_t chunk = size_t{1} + (data[0] / 3) * size_t{48};
  const int64_t file_size = int64_t{1024} << (data[1] % 5);  // 1 KiB .. 16 KiB
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  mq::ha::ReportReader reports;
  for (size_t pos = 0; pos < in.size(); pos += chunk) (void)reports.feed(in.substr(pos, chunk));

  mq::store::FaultInjectingFileSystem fs;
  bool refused = false;  // the store refused a frame (the slave then stops replicating)
  {
    mq::store::MessageStore store(mq::fuzz::small_store_config(file_size, 8, true), fs, mq::fuzz::quiet_logger());
    FUZZ_CHECK(store.open().ok());
    mq::ha::TransferReader reader(64 * 1024);
    bool stopped = false;
    for (size_t pos = 0; pos < in.size() && !stopped; pos += chunk) {
      reader.feed(in.substr(pos, chunk));
      while (auto frame = reader.next()) {
        if (frame->body.empty()) continue;  // heartbeat
        if (!store.append_replicated(frame->offset, frame->body, 1).ok()) {
          stopped = refused = true;  // the slave drops the connection
          break;
        }
      }
      if (!reader.error().empty()) break;
    }
    (void)mq::fuzz::read_back(store);
    (void)store.shutdown();
  }
  // What replication wrote without complaint (and a clean shutdown kept) must open again. After a
  // refusal the log may hold the refused record, which recovery may refuse too (kCorrupt).
  mq::store::MessageStore again(mq::fuzz::small_store_config(file_size, 8, true), fs, mq::fuzz::quiet_logger());
  auto opened = again.open();
  FUZZ_CHECK(opened.ok() || refused);
  if (opened.ok()) (void)mq::fuzz::read_back(again);
}

// Feeds `in` in chunks of `chunk` bytes (everything at once for 0), taking every frame after each
// feed; a reader in error must stay silent and hold nothing.
template <typename Reader, typename Frame>
std::vector<Frame> read_all(Reader& reader, std::string_view in, size_t chunk) {
  std::vector<Frame> out;
  if (chunk == 0) chunk = in.size() + 1;
  for (size_t pos = 0; pos < in.size(); pos += chunk) {
    reader.feed(in.substr(pos, chunk));
    while (auto f = reader.next()) out.push_back(std::move(*f));
    if (!reader.error().empty()) {
      FUZZ_CHECK(reader.buffered_bytes() == 0);
      reader.feed(in);
      FUZZ_CHECK(!reader.next().has_value() && reader.buffered_bytes() == 0);
      break;
    }
  }
  return out;
}

void master_side(size_t chunk, std::string_view in) {
  as::MasterSideReader chunked, whole;
  auto frames = read_all<as::MasterSideReader, as::SlaveFrame>(chunked, in, chunk);
  FUZZ_CHECK((read_all<as::MasterSideReader, as::SlaveFrame>(whole, in, 0) == frames));
  FUZZ_CHECK(chunked.error() == whole.error());
  size_t pos = 0;
  for (const auto& f : frames) {
    if (const auto* h = std::get_if<as::SlaveHandshake>(&f)) {
      std::string enc = as::encode_slave_handshake(*h);
      FUZZ_CHECK(pos + enc.size() <= in.size());
      FUZZ_CHECK(in.substr(pos, 4) == std::string_view(enc).substr(0, 4));
      FUZZ_CHECK(in.substr(pos + 8, 8) == std::string_view(enc).substr(8, 8));
      pos += enc.size();
    } else {
      const auto& r = std::get<as::SlaveReport>(f);
      FUZZ_CHECK(r.max_offset >= 0);
      std::string enc = as::encode_slave_report(r.max_offset);
      FUZZ_CHECK(in.substr(pos, enc.size()) == enc);
      pos += enc.size();
    }
  }
  // Without an error every byte is a decoded frame or waits in the buffer for the rest of one.
  if (chunked.error().empty()) {
    FUZZ_CHECK(pos + chunked.buffered_bytes() == in.size());
    FUZZ_CHECK(chunked.buffered_bytes() < as::kSlaveHandshakeSize);
  }
}

void check_reply(const as::HandshakeReply& r) {
  FUZZ_CHECK(r.master_max_offset >= 0 && r.master_last_epoch >= -1);
  FUZZ_CHECK(r.entries.size() <= as::kMaxHandshakeEntries);
  const auto& e = r.entries;
  for (size_t i = 0; i < e.size(); ++i) {
    FUZZ_CHECK(e[i].epoch >= 0 && e[i].start_offset >= 0);
    if (i > 0) FUZZ_CHECK(e[i].epoch > e[i - 1].epoch && e[i].start_offset > e[i - 1].start_offset);
    int64_t end = i + 1 < e.size() ? e[i + 1].start_offset : std::max(r.master_max_offset, e[i].start_offset);
    FUZZ_CHECK(e[i].end_offset == end);
  }
  // The epoch file's text carries the same entries (its last one open-ended).
  auto parsed = mq::store::EpochFile::parse(mq::store::EpochFile::serialize(e));
  FUZZ_CHECK(parsed.ok() && parsed->size() == e.size());
  for (size_t i = 0; i < e.size(); ++i)
    FUZZ_CHECK((*parsed)[i].epoch == e[i].epoch && (*parsed)[i].start_offset == e[i].start_offset);
  // Against itself the logs agree up to the end; against a slave holding a prefix of the entries,
  // up to where the slave's last epoch ends on both sides.
  using mq::store::EpochFile;
  FUZZ_CHECK(EpochFile::find_consistent_point(e, r.master_max_offset, e, r.master_max_offset) ==
             (e.empty() ? -1 : e.back().end_offset));
  if (!e.empty()) {
    size_t k = (e.size() + 1) / 2;
    std::vector<mq::store::EpochEntry> prefix(e.begin(), e.begin() + static_cast<ptrdiff_t>(k));
    const int64_t slave_max = prefix.back().start_offset + 1;
    const int64_t expect = std::min(std::max(slave_max, prefix.back().start_offset), e[k - 1].end_offset);
    FUZZ_CHECK(EpochFile::find_consistent_point(e, r.master_max_offset, prefix, slave_max) == expect);
  }
}

void slave_side(size_t chunk, int32_t max_body, std::string_view in) {
  as::SlaveSideReader chunked(max_body), whole(max_body);
  auto frames = read_all<as::SlaveSideReader, as::MasterFrame>(chunked, in, chunk);
  FUZZ_CHECK((read_all<as::SlaveSideReader, as::MasterFrame>(whole, in, 0) == frames));
  FUZZ_CHECK(chunked.error() == whole.error());
  std::string again;
  for (const auto& f : frames) {
    if (const auto* r = std::get_if<as::HandshakeReply>(&f)) {
      check_reply(*r);
      again += as::encode_handshake_reply(r->master_max_offset, r->master_last_epoch, r->entries);
    } else {
      const auto& t = std::get<as::TransferFrame>(f);
      FUZZ_CHECK(t.body.size() <= static_cast<size_t>(max_body));
      FUZZ_CHECK(t.offset >= 0 && t.epoch >= 0 && t.epoch_start_offset >= 0 && t.confirm_offset >= -1);
      again += as::encode_transfer(t.offset, t.epoch, t.epoch_start_offset, t.confirm_offset, t.body);
    }
  }
  // Encoded again, the frames are exactly the bytes the reader consumed.
  FUZZ_CHECK(in.substr(0, again.size()) == again);
  if (chunked.error().empty()) FUZZ_CHECK(again.size() + chunked.buffered_bytes() == in.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int selector = data[0] % 3;
  if (selector == 0) {
    classic(data, size);
    return 0;
  }
  const size_t chunk = size_t{1} + (data[1] >> 1) * size_t{4};
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (selector == 1) {
    master_side(chunk, in);
  } else {
    slave_side(chunk, (data[1] & 1) ? 1024 : as::kDefaultMaxTransferBodyBytes, in);
  }
  return 0;
}

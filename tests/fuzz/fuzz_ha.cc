// libFuzzer target: the HA (master-slave replication) wire, broker/ha_protocol.h. The input is what
// a master sends a slave: byte 0 picks the chunk size the stream arrives in, byte 1 the slave's
// CommitLog segment size (1 KiB << (byte 1 % 5), at most 16 KiB: recovery and the in-memory file
// system copy whole segments, so larger ones only cost time), the rest is the stream (run_fuzzer.sh
// keeps inputs under 20000 bytes). The slave side is replayed as HaSlave::on_data
// does it: TransferReader splits frames, each non-empty body is appended with
// MessageStore::append_replicated (which dispatches the complete records it carries) on the
// in-memory file system; afterwards the store is read back, closed and must open again. The same
// stream is also fed to the master's ReportReader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/ha_protocol.h"
#include "store/fault_fs.h"
#include "store/message_store.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/store_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t chunk = size_t{1} + data[0] * size_t{16};
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
  return 0;
}

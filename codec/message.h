// The RocketMQ message record: the unit of the CommitLog and also the body format of PULL, QUERY and
// VIEW responses (reference 4.1), plus what travels with it: sysFlag bits (4.2), the end-of-file
// BLANK record (4.3), the properties string (4.4), message ids (4.5) and the SEND_BATCH_MESSAGE body
// (4.6).
//
// Record layout, all integers big-endian, IPv4 offsets (each IPv6 host adds 12 bytes):
//   0 TOTALSIZE i32 | 4 MAGICCODE i32 | 8 BODYCRC i32 | 12 QUEUEID i32 | 16 FLAG i32
//   20 QUEUEOFFSET i64 | 28 PHYSICALOFFSET i64 | 36 SYSFLAG i32 | 40 BORNTIMESTAMP i64
//   48 BORNHOST (4|16 bytes ip + i32 port) | 56 STORETIMESTAMP i64 | 64 STOREHOST (ip + port)
//   72 RECONSUMETIMES i32 | 76 PREPARED_TRANSACTION_OFFSET i64 | 84 BODYLEN i32 + BODY
//   TOPICLEN (V1: i8, V2: i16) + TOPIC | PROPERTIESLEN i16 + PROPERTIES
// V1 magic 0xDAA320A7 is what we write; V2 magic 0xDAA320AB (2-byte topic length, RocketMQ 5.x) is
// accepted when reading. BODYCRC is CRC-32 of the stored body with the top bit cleared.
//
// BLANK record: i32 remaining-bytes-in-file + i32 0xCBD43194, written when a record (plus the 8-byte
// minimum blank) does not fit in the rest of a CommitLog file; readers jump to the next file.
//
// Crash behaviour: a record is only as durable as the bytes under it. A torn record (cut anywhere,
// including inside TOTALSIZE) fails decode_record with kTruncated, kBadMagic, kBadSize or kBadCrc,
// which is how recovery finds the end of the log. All decoders take untrusted input: they never read
// out of bounds and report errors as values.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace mq {

inline constexpr uint32_t kMessageMagicV1 = 0xDAA320A7u;
inline constexpr uint32_t kMessageMagicV2 = 0xDAA320ABu;
inline constexpr uint32_t kBlankMagic = 0xCBD43194u;
// A CommitLog file always keeps room for a BLANK record (TOTALSIZE + MAGIC).
inline constexpr int32_t kEndFileMinBlankLength = 8;
// RocketMQ's limits: topic length fits V1's signed byte; PROPERTIESLEN is a signed short.
inline constexpr size_t kMaxTopicLengthV1 = 127;
inline constexpr size_t kMaxPropertiesLength = 32767;

// MessageSysFlag (reference 4.2).
namespace sysflag {
inline constexpr int32_t kCompressed = 0x1;
inline constexpr int32_t kMultiTags = 0x2;
inline constexpr int32_t kTransactionNotType = 0x0;
inline constexpr int32_t kTransactionPreparedType = 0x4;
inline constexpr int32_t kTransactionCommitType = 0x8;
inline constexpr int32_t kTransactionRollbackType = 0xC;
inline constexpr int32_t kTransactionMask = 0xC;
inline constexpr int32_t kBornHostV6 = 0x10;
inline constexpr int32_t kStoreHostV6 = 0x20;
inline constexpr int32_t kNeedUnwrap = 0x40;
inline constexpr int32_t kInnerBatch = 0x80;
inline constexpr int32_t kCompressionTypeMask = 0x700;
inline int32_t transaction_type(int32_t flag) { return flag & kTransactionMask; }
}  // namespace sysflag

// Property names the store itself reads (reference 4.4).
namespace property {
inline constexpr std::string_view kKeys = "KEYS";
inline constexpr std::string_view kTags = "TAGS";
inline constexpr std::string_view kWaitStoreMsgOk = "WAIT";
inline constexpr std::string_view kDelayTimeLevel = "DELAY";
inline constexpr std::string_view kRealTopic = "REAL_TOPIC";
inline constexpr std::string_view kRealQueueId = "REAL_QID";
inline constexpr std::string_view kUniqKey = "UNIQ_KEY";
inline constexpr std::string_view kCluster = "CLUSTER";
// Retries and dead letters (CONSUMER_SEND_MSG_BACK).
inline constexpr std::string_view kRetryTopic = "RETRY_TOPIC";
inline constexpr std::string_view kOriginMessageId = "ORIGIN_MESSAGE_ID";
inline constexpr std::string_view kMaxReconsumeTimes = "MAX_RECONSUME_TIMES";
// Transactions.
inline constexpr std::string_view kTransactionPrepared = "TRAN_MSG";
inline constexpr std::string_view kProducerGroup = "PGROUP";
inline constexpr std::string_view kTransactionCheckTimes = "TRANSACTION_CHECK_TIMES";
inline constexpr std::string_view kCheckImmunityTimeInSeconds = "CHECK_IMMUNITY_TIME_IN_SECONDS";
inline constexpr std::string_view kTransactionPreparedQueueOffset = "TRAN_PREPARED_QUEUE_OFFSET";
// RocketMQ 5.x timed messages: absolute delivery time, or a delay from the send.
inline constexpr std::string_view kTimerDeliverMs = "TIMER_DELIVER_MS";
inline constexpr std::string_view kTimerDelaySec = "TIMER_DELAY_SEC";
inline constexpr std::string_view kTimerDelayMs = "TIMER_DELAY_MS";
// Set by the broker: the delivery time of a parked timed message, the time a timer bucket entry is
// looked at next (ours), and the time a timed message was delivered (it is not parked again).
inline constexpr std::string_view kTimerOutMs = "TIMER_OUT_MS";
inline constexpr std::string_view kTimerCheckMs = "TIMER_CHECK_MS";
inline constexpr std::string_view kTimerDequeueMs = "TIMER_DEQUEUE_MS";
}  // namespace property

enum class MessageError {
  kTruncated,   // the buffer ends before the record does
  kBadMagic,    // neither a message magic nor the BLANK magic
  kBadSize,     // TOTALSIZE impossible, or not equal to the sum of the field lengths
  kBadCrc,      // BODYCRC does not match the body
  kBadField,    // a length or text field out of range (topic, properties, hex id, ...)
};
const char* message_error_name(MessageError e);

// An IPv4 or IPv6 address and a port, as the record stores them (address bytes in network order).
struct HostAddress {
  std::array<uint8_t, 16> ip{};
  bool ipv6 = false;
  int32_t port = 0;

  static HostAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int32_t port);
  size_t ip_length() const { return ipv6 ? 16 : 4; }
  // "127.0.0.1:10911" (IPv6 as 8 colon-separated hex groups).
  std::string to_string() const;
  // Parses "a.b.c.d:port"; IPv6 is not accepted here (nothing in the config produces it).
  static std::optional<HostAddress> parse_v4(std::string_view text);
  bool operator==(const HostAddress&) const = default;
};

// One message record. Text and body fields are views: into the decoded buffer after decode_record,
// into caller-owned memory before encode_record.
struct MessageRecord {
  int32_t total_size = 0;  // filled by encode_record / decode_record
  uint32_t magic = kMessageMagicV1;
  int32_t body_crc = 0;
  int32_t queue_id = 0;
  int32_t flag = 0;
  int64_t queue_offset = 0;
  int64_t physical_offset = 0;
  int32_t sys_flag = 0;  // the IPv6 bits are kept in step with born_host/store_host by encode_record
  int64_t born_timestamp = 0;
  HostAddress born_host;
  int64_t store_timestamp = 0;
  HostAddress store_host;
  int32_t reconsume_times = 0;
  int64_t prepared_transaction_offset = 0;
  std::string_view body;
  std::string_view topic;
  std::string_view properties;
};

// Record size for the given lengths (V1 magic; pass the host flags through sys_flag).
size_t message_record_size(size_t body_length, size_t topic_length, size_t properties_length,
                           int32_t sys_flag);

// Appends the record to `out` with TOTALSIZE computed and the V1 magic. body_crc is written as given
// (the store computes it with rocketmq_crc32). Fails with kBadField when the topic or properties
// exceed the V1 limits.
Result<Unit, MessageError> encode_record(const MessageRecord& record, std::string& out);
// Same, into a caller buffer of exactly message_record_size(...) bytes.
Result<Unit, MessageError> encode_record_to(const MessageRecord& record, uint8_t* out,
                                            size_t capacity);

// What sits at a CommitLog position: a message or the end-of-file BLANK.
struct DecodedEntry {
  bool blank = false;
  int32_t size = 0;  // TOTALSIZE (for a BLANK: the bytes it covers to the end of the file)
  MessageRecord message;
};

struct DecodeOptions {
  // Lengths are always validated; the body CRC can be skipped where the bytes were just checked
  // (re-dispatch after the recovery scan) or where RocketMQ does not check (checkCRCOnRecover=false).
  bool check_crc = true;
};

// Decodes the entry at the start of `bytes`. Never reads outside `bytes`.
Result<DecodedEntry, MessageError> decode_entry(std::string_view bytes, DecodeOptions options = {});
// Same, but a BLANK is an error (kBadMagic): for PULL bodies and single-record reads.
Result<MessageRecord, MessageError> decode_record(std::string_view bytes,
                                                  DecodeOptions options = {});
// Decodes a concatenation of records (a PULL response body).
Result<std::vector<MessageRecord>, MessageError> decode_records(std::string_view bytes,
                                                                DecodeOptions options = {});

// The BLANK record (8 bytes) telling readers that `remaining_bytes` to the end of the file are unused.
void encode_blank(uint8_t* out, int32_t remaining_bytes);

// Parses a non-negative decimal property value; nullopt for anything else (or above 10^18).
std::optional<int64_t> parse_property_int(std::string_view v);

// Properties (4.4): name \x01 value pairs joined by \x02, no trailing \x02 when we write.
inline constexpr char kNameValueSeparator = '\x01';
inline constexpr char kPropertySeparator = '\x02';
using PropertyList = std::vector<std::pair<std::string, std::string>>;
std::string encode_properties(const PropertyList& properties);
// Splits like Java's string2messageProperties: a trailing \x02 is accepted; pieces without \x01 or
// with an empty name or value are dropped. Views point into `text`. Duplicate names (batch members
// carry WAIT twice) are all returned in order.
std::vector<std::pair<std::string_view, std::string_view>> decode_properties(std::string_view text);
// The value Java's map would hold for `name` (the last occurrence wins, as in HashMap.put).
std::optional<std::string_view> find_property(std::string_view properties, std::string_view name);

// `text` with every property named in `erase` or in `put` removed (all occurrences; the others keep
// their order and bytes), then `put` appended: how the broker rewrites a message it moves to another
// topic (delay levels, retries, transactions).
std::string edit_properties(std::string_view text, const PropertyList& put,
                            std::initializer_list<std::string_view> erase = {});

// Message ids (4.5): offsetMsgId = upper-case hex of store ip ‖ port (i32) ‖ commit log offset (i64).
std::string make_offset_msg_id(const HostAddress& store_host, int64_t commit_log_offset);
struct OffsetMsgId {
  HostAddress store_host;
  int64_t commit_log_offset = 0;
};
Result<OffsetMsgId, MessageError> decode_offset_msg_id(std::string_view id);

// One item of a SEND_BATCH_MESSAGE body (4.6). Views point into the body.
struct BatchItem {
  int32_t flag = 0;
  std::string_view body;
  std::string_view properties;
};
// Items are TOTALSIZE i32 | MAGIC i32 (ignored) | BODYCRC i32 (ignored) | FLAG i32 | BODYLEN i32 +
// BODY | PROPERTIESLEN i16 + PROPERTIES. TOTALSIZE must equal the sum of the fields.
Result<std::vector<BatchItem>, MessageError> decode_batch(std::string_view body);
std::string encode_batch(const std::vector<BatchItem>& items);
// A batch member's stored properties: its own, then the batch-level ones (header `properties`, which
// carry CLUSTER and WAIT), joined with one \x02 when both are non-empty. 4.9.4 stores exactly this,
// which is why WAIT appears twice in batch records.
std::string join_batch_properties(std::string_view item_properties,
                                  std::string_view batch_properties);

}  // namespace mq

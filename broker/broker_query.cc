// QUERY_MESSAGE (12): messages by key or unique key within a store-time range, through the
// IndexFile (store/index_service.h), as RocketMQ's QueryMessageProcessor and
// DefaultMessageStore.queryMessage answer it: at most defaultQueryMaxNum (32) records, the index's
// last update in the response header, QUERY_NOT_FOUND when nothing matched. The index compares
// keys by hash only, so each record read is checked here: its topic, and the key among its KEYS
// or equal to its UNIQ_KEY (RocketMQ leaves that to its clients; answering only true matches is
// what they would keep anyway).
#include <set>

#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq {

namespace {
namespace rc = response_code;
constexpr int kDefaultQueryMaxNum = 32;

bool record_has_key(const MessageRecord& r, std::string_view key) {
  if (find_property(r.properties, property::kUniqKey) == key) return true;
  std::string_view keys = find_property(r.properties, property::kKeys).value_or("");
  while (!keys.empty()) {
    size_t sp = keys.find(' ');
    if (keys.substr(0, sp) == key) return true;
    if (sp == std::string_view::npos) break;
    keys.remove_prefix(sp + 1);
  }
  return false;
}
}  // namespace

void Broker::register_query_processors() {
  server_.register_handler(request_code::kQueryMessage, [this](const RequestContext& ctx, RemotingCommand& req) {
    HeaderReader h(req.ext_fields);
    const std::string topic = h.str("topic");
    const std::string key = h.str("key");
    const int64_t asked = h.i64("maxNum");
    const int64_t begin_ms = h.i64("beginTimestamp");
    const int64_t end_ms = h.i64("endTimestamp");
    if (!h.ok()) return ctx.respond_code(rc::kSystemError, h.error());
    if (!index_ || !store_) return ctx.respond_code(rc::kSystemError, "the index is not open");
    const bool unique = h.opt_str("_UNIQUE_KEY_QUERY").value_or("") == "true";
    const int max_num = unique ? kDefaultQueryMaxNum
                               : static_cast<int>(std::clamp<int64_t>(asked, 1, kDefaultQueryMaxNum));
    std::string body;
    std::set<int64_t> taken;
    int found = 0;
    int64_t last_query_ms = end_ms;
    int64_t last_update_ms = 0, last_update_phy = 0;
    for (int round = 0; round < 3; ++round) {
      auto r = index_->query_offset(topic, key, max_num, begin_ms, last_query_ms);
      if (!r.ok()) return ctx.respond_code(rc::kSystemError, "index lookup failed: " + r.detail());
      last_update_ms = r->index_last_update_timestamp;
      last_update_phy = r->index_last_update_phyoffset;
      bool first = true;
      for (int64_t offset : r->phy_offsets) {
        auto bytes = store_->message_by_offset(offset);
        if (!bytes.ok()) continue;  // expired or beyond the log after a crash
        auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false});
        if (!rec.ok()) continue;
        if (first) {
          last_query_ms = rec->store_timestamp;
          first = false;
        }
        if (rec->topic != topic || !record_has_key(*rec, key) || !taken.insert(offset).second) continue;
        if (found >= max_num) break;
        body += *bytes;
        ++found;
      }
      if (!body.empty() || last_query_ms < begin_ms || r->phy_offsets.empty()) break;
    }
    RemotingCommand resp;
    resp.ext_fields.set("indexLastUpdateTimestamp", last_update_ms);
    resp.ext_fields.set("indexLastUpdatePhyoffset", last_update_phy);
    if (body.empty()) {
      resp.code = rc::kQueryNotFound;
      resp.remark = "can not find message, maybe time range not correct";
    } else {
      resp.code = rc::kSuccess;
      resp.body = std::move(body);
    }
    ctx.respond(std::move(resp));
  });
}

}  // namespace mq

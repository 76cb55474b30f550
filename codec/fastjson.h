// JSON bodies as RocketMQ's Java side writes them with fastjson 1.x, which is not always strict
// JSON:
//  - maps with numeric keys are written with UNQUOTED keys: {"brokerAddrs":{0:"127.0.0.1:10911"}};
//  - maps keyed by objects (MessageQueue) get object keys: {{"brokerName":"b","queueId":0,
//    "topic":"t"}:{...}}.
// parse_fastjson() accepts both (and strict JSON), turning an unquoted key into its text and an
// object key into its compact JSON text, so callers see ordinary nlohmann::json objects.
// dump_fastjson() writes compact JSON and, when asked, leaves the keys of chosen maps unquoted, for
// peers that expect fastjson's plain form (old clients asking for routes, ClusterInfo).
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace mq {

enum class JsonError { kInvalid };

// Every dump() of JSON that may hold bytes from a peer (names, ids, bodies) must use this handler:
// nlohmann throws on invalid UTF-8 otherwise, and a throw on a timer or loop callback would end the
// process. Invalid bytes become U+FFFD.
inline constexpr auto kJsonReplace = nlohmann::json::error_handler_t::replace;

Result<nlohmann::json, JsonError> parse_fastjson(std::string_view text);

// Writes `value` compactly. Objects that are the value of a member named in `unquoted_key_maps`
// (at any depth) get their integer-looking keys written without quotes.
std::string dump_fastjson(const nlohmann::json& value,
                          std::initializer_list<std::string_view> unquoted_key_maps = {});

// Convenience accessors that tolerate fastjson's habits (numbers sent as strings and back).
int64_t json_int(const nlohmann::json& obj, std::string_view key, int64_t fallback = 0);
std::string json_string(const nlohmann::json& obj, std::string_view key, std::string fallback = "");
bool json_bool(const nlohmann::json& obj, std::string_view key, bool fallback = false);

}  // namespace mq

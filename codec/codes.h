// RocketMQ request and response codes (numbers as in RequestCode / ResponseCode of 4.9.x and 5.x).
#pragma once
#include <cstdint>

namespace mq {

namespace request_code {
inline constexpr int32_t kSendMessage = 10;
inline constexpr int32_t kPullMessage = 11;
inline constexpr int32_t kQueryMessage = 12;
inline constexpr int32_t kQueryConsumerOffset = 14;
inline constexpr int32_t kUpdateConsumerOffset = 15;
inline constexpr int32_t kUpdateAndCreateTopic = 17;
inline constexpr int32_t kGetAllTopicConfig = 21;
inline constexpr int32_t kUpdateBrokerConfig = 25;
inline constexpr int32_t kGetBrokerConfig = 26;
inline constexpr int32_t kGetBrokerRuntimeInfo = 28;
inline constexpr int32_t kSearchOffsetByTimestamp = 29;
inline constexpr int32_t kGetMaxOffset = 30;
inline constexpr int32_t kGetMinOffset = 31;
inline constexpr int32_t kGetEarliestMsgStoreTime = 32;
inline constexpr int32_t kViewMessageById = 33;
inline constexpr int32_t kHeartBeat = 34;
inline constexpr int32_t kUnregisterClient = 35;
inline constexpr int32_t kConsumerSendMsgBack = 36;
inline constexpr int32_t kEndTransaction = 37;
inline constexpr int32_t kGetConsumerListByGroup = 38;
inline constexpr int32_t kCheckTransactionState = 39;
inline constexpr int32_t kNotifyConsumerIdsChanged = 40;
inline constexpr int32_t kLockBatchMq = 41;
inline constexpr int32_t kUnlockBatchMq = 42;
inline constexpr int32_t kGetAllConsumerOffset = 43;
inline constexpr int32_t kGetAllDelayOffset = 45;
inline constexpr int32_t kPutKvConfig = 100;
inline constexpr int32_t kGetKvConfig = 101;
inline constexpr int32_t kDeleteKvConfig = 102;
inline constexpr int32_t kRegisterBroker = 103;
inline constexpr int32_t kUnregisterBroker = 104;
inline constexpr int32_t kGetRouteinfoByTopic = 105;
inline constexpr int32_t kGetBrokerClusterInfo = 106;
inline constexpr int32_t kUpdateAndCreateSubscriptionGroup = 200;
inline constexpr int32_t kGetAllSubscriptionGroupConfig = 201;
inline constexpr int32_t kGetTopicStatsInfo = 202;
inline constexpr int32_t kGetConsumerConnectionList = 203;
inline constexpr int32_t kGetProducerConnectionList = 204;
inline constexpr int32_t kWipeWritePermOfBroker = 205;
inline constexpr int32_t kGetAllTopicListFromNameserver = 206;
inline constexpr int32_t kDeleteSubscriptionGroup = 207;
inline constexpr int32_t kGetConsumeStats = 208;
inline constexpr int32_t kDeleteTopicInBroker = 215;
inline constexpr int32_t kDeleteTopicInNamesrv = 216;
inline constexpr int32_t kGetKvlistByNamespace = 219;
inline constexpr int32_t kGetTopicsByCluster = 224;
inline constexpr int32_t kSendMessageV2 = 310;
inline constexpr int32_t kUpdateNamesrvConfig = 318;
inline constexpr int32_t kGetNamesrvConfig = 319;
inline constexpr int32_t kSendBatchMessage = 320;
inline constexpr int32_t kQueryDataVersion = 322;
inline constexpr int32_t kAddWritePermOfBroker = 327;
inline constexpr int32_t kAddBroker = 902;
inline constexpr int32_t kRemoveBroker = 903;
// Ours (RocketMQ has no broker-side DLedger admin codes; DLedger's own CLI speaks its RPC port).
// Sent to a DLedger broker's listenPort: the group's state as JSON; hand leadership to the member
// named by header `transfereeId` (to the leader).
inline constexpr int32_t kDLedgerGetGroupStatus = 52101;
inline constexpr int32_t kDLedgerTransferLeadership = 52102;
// Tests only (dLegerFaultInjectionEnable=true): header `isolate` true cuts the member off its
// group's Raft traffic in both directions, false heals it.
inline constexpr int32_t kDLedgerInjectFault = 52103;
// Ours: the timer service's progress (config/timerOffset.json), for slave / follower metadata sync,
// as GET_ALL_DELAY_OFFSET carries delayOffset.json.
inline constexpr int32_t kGetAllTimerOffset = 52110;
// To the leader: header `changeType` addLearner | promote | remove, `memberId` ("n3"), and for
// addLearner `memberAddr` (host:port of the new member's Raft port).
inline constexpr int32_t kDLedgerChangeMembership = 52104;
}  // namespace request_code

namespace response_code {
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kSystemError = 1;
inline constexpr int32_t kSystemBusy = 2;
inline constexpr int32_t kRequestCodeNotSupported = 3;
inline constexpr int32_t kTransactionFailed = 4;
inline constexpr int32_t kFlushDiskTimeout = 10;
inline constexpr int32_t kSlaveNotAvailable = 11;
inline constexpr int32_t kFlushSlaveTimeout = 12;
inline constexpr int32_t kMessageIllegal = 13;
inline constexpr int32_t kServiceNotAvailable = 14;
inline constexpr int32_t kVersionNotSupported = 15;
inline constexpr int32_t kNoPermission = 16;
inline constexpr int32_t kTopicNotExist = 17;
inline constexpr int32_t kTopicExistAlready = 18;
inline constexpr int32_t kPullNotFound = 19;
inline constexpr int32_t kPullRetryImmediately = 20;
inline constexpr int32_t kPullOffsetMoved = 21;
inline constexpr int32_t kQueryNotFound = 22;
inline constexpr int32_t kSubscriptionParseFailed = 23;
inline constexpr int32_t kSubscriptionNotExist = 24;
inline constexpr int32_t kSubscriptionNotLatest = 25;
inline constexpr int32_t kSubscriptionGroupNotExist = 26;
inline constexpr int32_t kInvalidParameter = 29;
inline constexpr int32_t kConsumerNotOnline = 206;
inline constexpr int32_t kBrokerNotExist = 211;
}  // namespace response_code

// PermName bits.
namespace perm {
inline constexpr int32_t kInherit = 1;
inline constexpr int32_t kWrite = 2;
inline constexpr int32_t kRead = 4;
inline constexpr int32_t kPriority = 8;
inline constexpr int32_t kReadWrite = kRead | kWrite;
inline const char* describe(int32_t p) {
  static const char* kNames[] = {"---", "--X", "-W-", "-WX", "R--", "R-X", "RW-", "RWX"};
  return kNames[p & 7];
}
}  // namespace perm

}  // namespace mq

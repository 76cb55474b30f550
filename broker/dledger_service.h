// DLedgerService: the Raft side of a DLedger broker (RocketMQ's DLedgerCommitLog + DLedgerServer).
// It drives one raft::Node on the loop thread, keeps the group's log in a raft::DiskLog under
// storePathRootDir/dledger-<selfId>/ (DLedger's layout, which is the broker's CommitLog), talks to
// the other members over the group's own port from dLegerPeers (raft/wire.h frames, each a oneway
// request), and applies committed entries to the MessageStore, which reads its CommitLog from the
// same data files (it is the store's CommitLogReader).
//
// The Ready cycle (raft/node.h) on the loop thread:
// Inputs (sends, peer messages, ticks) wait for the loop iteration's flush point
// (EventLoop::at_flush_point) and are fed in one go, so one cycle covers all that arrived together.
//   1. entries are written into the data files (pwrite into the page cache) and the term/vote file
//      is replaced when it changed (fsync; rare). The append hook writes each message's own
//      commit log offset, pos + 48, into its PHYSICALOFFSET field as it lands.
//   2. SYNC_FLUSH: the data files are fsync'd on the broker's strand of the worker pool, and the
//      cycle continues when that is done (inputs that arrive meanwhile wait in an inbox and are fed
//      afterwards in one go: group commit). ASYNC_FLUSH: no wait; the data is fsync'd every
//      flush interval, as DLedger's flushFileInterval (kill -9 loses nothing, an OS crash may).
//   3. messages go to the peers, committed entries are dispatched to the ConsumeQueues, the node
//      advances, and entries a lagging follower needs are read back from disk.
// A leader answers a producer once the entries of its send are committed and applied (a quorum
// holds them), with the offsets the apply found; after dLegerMaxWaitAckTimeMs it answers with a
// retryable error instead (the entries may still commit). An entry whose index commits with
// another term was overwritten by a newer leader: its send fails as not available.
//
// Roles: a leader becomes "ready" once it has applied everything committed up to an entry of its
// own term (DLedger: ledger end == committed index and the dispatcher caught up); only then do
// queue offsets restart from the ConsumeQueues and proposals get accepted, and the broker
// registers as brokerId 0. Every role change is reported to the broker.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "raft/disk_log.h"
#include "raft/node.h"
#include "remoting/client.h"
#include "remoting/server.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"
#include "store/file.h"
#include "store/message_store.h"

namespace mq {

struct DLedgerPeerAddress {
  raft::NodeId node = raft::kNoNode;
  std::string id;    // "n0"
  std::string addr;  // host:port of its Raft port
};

struct DLedgerOptions {
  std::string group;
  raft::NodeId self = raft::kNoNode;
  std::vector<DLedgerPeerAddress> peers;  // self included
  // Joining a running group: the bootstrap membership is `peers` without self, and this member
  // waits until the leader adds it.
  bool join = false;
  raft::NodeId preferred_leader = raft::kNoNode;
  std::string dir;  // dledger-<selfId>
  int64_t data_file_size = int64_t{1} << 30;
  bool sync_flush = false;
  int64_t flush_interval_ms = 10;
  int64_t tick_ms = 25;
  int64_t heartbeat_interval_ms = 100;
  int64_t election_timeout_ms = 300;
  int64_t max_wait_ack_ms = 2500;
  int64_t checkpoint_interval_ms = 3000;
  uint32_t max_frame_bytes = 16 * 1024 * 1024;
  uint64_t seed = 1;
};

// What a group's committed entries are applied to: the broker's MessageStore (the DLedger data
// files are its CommitLog) or, for the controller, its replicated tables.
class DLedgerStateMachine {
 public:
  virtual ~DLedgerStateMachine() = default;
  // The data-file position below which every entry was applied before this start (0: replay the
  // whole log, as a state machine without snapshots does).
  virtual int64_t applied_pos() const = 0;
  // Applies one committed normal entry that lies at data-file position `pos`; returns how many
  // bytes of the CommitLog it took (0 when the entry is not a message).
  virtual Result<int64_t, std::string> apply(int64_t pos, std::string& data) = 0;
  // The leader became ready, or stopped being ready.
  virtual void on_leader_ready_changed(bool /*ready*/) {}
  // Whether entries are message records whose PHYSICALOFFSET the append hook fills in.
  virtual bool entries_are_messages() const { return false; }
};

class DLedgerService final : public store::CommitLogReader {
 public:
  struct Callbacks {
    // Each committed message record, after the store dispatched it.
    std::function<void(const store::CommittedRecord&)> on_committed;
    // Role or leader changed (leader_ready: leader and caught up, accepting sends).
    std::function<void(raft::Role role, bool leader_ready, raft::NodeId leader)> on_role_change;
    // Why the broker's store (ConsumeQueues, on the same disk) is full, or "" when it is not. A
    // member whose disk is full takes no part in the group until there is room again, so a full
    // leader hands over instead of refusing every send while it keeps its leadership.
    std::function<std::string()> store_full_reason;
  };
  // A send's outcome: PUT_OK with offsets and msg ids, or the failure.
  using ProposeCallback = std::function<void(store::PutMessageResult)>;

  DLedgerService(EventLoop& loop, std::shared_ptr<WorkerPool::Strand> strand, store::FileSystem& fs,
                 const Clock& clock, Logger log, DLedgerOptions options, Callbacks callbacks);
  ~DLedgerService() override;
  DLedgerService(const DLedgerService&) = delete;
  DLedgerService& operator=(const DLedgerService&) = delete;

  // Opens (and recovers) the disk log. Before the MessageStore opens on top of it.
  Result<Unit, std::string> open();
  // Re-applies committed entries the store has not dispatched yet, starts the node, the Raft port
  // and the tick timer.
  Result<Unit, std::string> start(store::MessageStore& store);
  // The same for any other state machine (the controller's tables); `sm` outlives the service.
  Result<Unit, std::string> start(DLedgerStateMachine& sm);
  // Fails pending sends, stops timers and the port, syncs data files and writes the checkpoint.
  void shutdown();

  // Leader only: appends the encoded records (one entry each) and answers through cb.
  // `base` is the encode result (queue offset, count, store time).
  void propose(std::vector<std::string> records, store::PutMessageResult base, HostAddress store_host,
               ProposeCallback cb);

  raft::Role role() const { return node_ ? node_->role() : raft::Role::kFollower; }
  bool leader_ready() const { return leader_ready_ && !waiting_for_space_; }
  raft::NodeId leader() const { return node_ ? node_->leader() : raft::kNoNode; }
  std::string leader_id() const;
  int raft_port() const { return server_ ? server_->port() : -1; }
  // The Raft port's server, for other requests served on the same port (RocketMQ's controller
  // answers brokers on its DLedger peer port). Null before start().
  RemotingServer* server() { return server_.get(); }
  // The address of a member's Raft port ("" when unknown).
  std::string peer_address(raft::NodeId n) const;
  nlohmann::json status_json() const;
  // Admin: hand leadership to a member (leader only).
  Result<Unit, std::string> transfer_leadership(const std::string& peer_id);
  // Admin, leader only: add a member as a learner (it catches up without voting), promote a
  // caught-up learner to voter, or remove a member. One change at a time.
  enum class MembershipOp { kAddLearner, kPromote, kRemove };
  Result<Unit, std::string> change_membership(MembershipOp op, const std::string& peer_id, const std::string& addr);
  // Fault injection: drop every Raft message to and from the other members (a partition).
  void set_isolated(bool isolated);
  // Tests: how the free space of the log's disk is measured (statvfs by default).
  void set_disk_space_probe(store::DiskSpaceProbe probe) { probe_ = std::move(probe); }
  bool waiting_for_space() const { return waiting_for_space_; }
  bool isolated() const { return isolated_; }

  // Expiry of data files (RocketMQ's fileReservedTime): deletes leading data files older than
  // reserved_ms (any age when forcibly) that hold only applied entries, at most max_files.
  int delete_expired(int64_t now_ms, int64_t reserved_ms, bool forcibly, int max_files);

  // store::CommitLogReader
  store::IoResult<std::string> read(int64_t offset, size_t n) const override;
  int64_t min_offset() const override { return start_pos_.load(std::memory_order_acquire); }

 private:
  struct Pending {
    RaftIndex first;
    RaftIndex last;
    Term term;
    store::PutMessageResult result;
    HostAddress store_host;
    int64_t deadline_ms = 0;
    ProposeCallback cb;
  };
  struct TransferRequest {
    raft::NodeId target;
  };
  struct MembershipRequest {
    raft::MembershipChange change;
  };
  using Input = std::variant<raft::Message, int /*tick*/, TransferRequest, MembershipRequest>;

  void on_tick();
  void on_peer_message(raft::Message m);
  void feed(Input in);
  // Runs Ready cycles until the node has nothing more or a persist is in flight.
  void pump();
  // Inputs of one loop iteration (sends, peer messages, ticks) are fed together at its flush
  // point: one Ready, one disk write, one push per follower for all of them.
  void schedule_pump();
  void finish_ready(raft::Ready rd);
  void apply(std::vector<raft::Entry>& committed);
  void send(const raft::Message& m);
  void check_role();
  void expire_pending();
  void fail_pending(store::PutMessageStatus status, const std::string& detail);
  void complete(Pending& p, store::PutMessageStatus status, const std::string& detail);
  void flush_data(bool and_checkpoint);
  void stop_writes(const std::string& why);
  // ENOSPC: keep `rd` to write again, pause, and poll the disk (recheck_space, every tick).
  void wait_for_space(std::shared_ptr<raft::Ready> rd, const std::string& why);
  void recheck_space();
  static constexpr int64_t kIndexRoomBytes = int64_t{4} << 20;
  int64_t pos_of(RaftIndex index);
  std::string peer_name(raft::NodeId n) const;
  const DLedgerPeerAddress* peer(raft::NodeId n) const;
  // Takes member addresses from the membership in force (a member added at run time).
  void refresh_address_book();

  EventLoop& loop_;
  std::shared_ptr<WorkerPool::Strand> strand_;
  store::FileSystem& fs_;
  const Clock& clock_;
  Logger log_;
  DLedgerOptions opt_;
  Callbacks cb_;
  // Every member this node knows how to reach: the configured peers plus members added through
  // the log (Membership::addresses).
  std::map<raft::NodeId, DLedgerPeerAddress> book_;
  RaftIndex book_membership_index_{-1};

  std::unique_ptr<raft::DiskLog> disk_log_;
  std::unique_ptr<raft::Node> node_;
  std::unique_ptr<DLedgerStateMachine> store_sm_;  // the MessageStore's adapter, for start(store)
  DLedgerStateMachine* sm_ = nullptr;
  std::unique_ptr<RemotingServer> server_;
  std::unique_ptr<RemotingClient> client_;
  Timer tick_timer_;
  Timer flush_timer_;

  bool persist_in_flight_ = false;
  bool pumping_ = false;
  bool pump_scheduled_ = false;
  bool broken_ = false;  // a write failed: the node is stopped (no more Ready cycles)
  std::string broken_reason_;
  bool waiting_for_space_ = false;  // a write met a full disk: paused until there is room
  std::string space_reason_;
  std::shared_ptr<raft::Ready> unpersisted_ready_;  // the Ready whose writes met the full disk
  store::DiskSpaceProbe probe_ = store::probe_disk_space;
  std::deque<Input> inbox_;
  std::deque<std::pair<std::vector<std::string>, std::shared_ptr<Pending>>> proposal_inbox_;
  std::map<int64_t, std::shared_ptr<Pending>> pending_;  // by first index
  std::map<int64_t, int64_t> positions_;                 // index -> pos of entries written this run
  raft::HardState persisted_hs_;
  bool flush_running_ = false;
  bool leader_ready_ = false;
  Term ready_term_;  // the term in which this member became the ready leader (0: not ready)
  bool isolated_ = false;
  raft::Role last_role_ = raft::Role::kFollower;
  raft::NodeId last_leader_ = raft::kNoNode;
  bool last_ready_ = false;
  bool role_reported_ = false;
  int64_t last_checkpoint_ms_ = 0;
  RaftIndex checkpointed_commit_;
  std::atomic<int64_t> start_pos_{0};  // the data files' first byte (after expiry)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq

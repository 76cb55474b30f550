// DLedger brokers with real processes: containers each hosting members of Raft groups.
//  * the group elects a leader that registers as brokerId 0 and takes sends; followers refuse them;
//  * kill -9 of the leader under continuous sends, several rounds: every acknowledged send is read
//    back from the new leader at the queue offset and commit log offset its acknowledgement named,
//    byte-exact, with no send stored twice and per-queue order kept; the killed member restarts on
//    its store, catches up, and serves the same bytes as the others;
//  * a frozen leader (SIGSTOP) is replaced; a leader cut off from its group (fault injection)
//    acknowledges nothing and steps down, a cut-off follower falls behind; healed, both converge;
//  * leadership transfer (admin code and mqadmin), membership change (learner, promote, remove),
//    the preferred leader's return without a consumer-offset rollback, all with sends running;
//  * three containers cross-deploying three groups (one leader per machine) beside a master and
//    its slave; a member hot-added with ADD_BROKER; a Raft port clash refused;
//  * expiry of data files, and restart on the shortened log;
//  * a store written by a Java 4.9.4 DLedger group opens here, serves every message of its
//    manifest, keeps its consumer offsets, and takes new messages.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/admin_client.h"
#include "cluster.h"
#include "dledger_cluster.h"
#include "loop_mount.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/message.h"
#include "tests/support/fixture_files.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {

// Every record of a queue on one member: queue offset -> (commit log offset, record bytes).
std::map<int64_t, std::pair<int64_t, std::string>> read_queue(BlockingClient& client, const std::string& addr,
                                                             const std::string& topic, int32_t queue_id) {
  std::map<int64_t, std::pair<int64_t, std::string>> out;
  int64_t offset = 0;
  for (int guard = 0; guard < 10000; ++guard) {
    auto p = pull_messages(client, addr, "dl_reader", topic, queue_id, offset);
    // A connection cached from before a kill fails once (the next request reconnects), a request
    // may time out on a loaded machine, and a broker may ask to retry: only "nothing more" ends it.
    for (int retry = 0; retry < 5 && (p.code == -1 || p.code == rc::kPullRetryImmediately); ++retry)
      p = pull_messages(client, addr, "dl_reader", topic, queue_id, offset);
    if (p.code != rc::kSuccess) break;
    size_t at = 0;
    for (const auto& rec : p.records) {
      out[rec.queue_offset] = {rec.physical_offset, p.body.substr(at, static_cast<size_t>(rec.total_size))};
      at += static_cast<size_t>(rec.total_size);
    }
    offset = p.next_begin_offset;
  }
  return out;
}

std::string body_of_record(const std::string& record) {
  auto d = decode_record(record);
  return d.ok() ? std::string(d->body) : std::string();
}

// Every member converges on the same log; every acknowledged send is on the leader at the queue
// offset and commit log offset its acknowledgement named, byte-exact, in per-queue send order; no
// body is stored twice; every member serves the same records. Returns the leader's queues.
std::vector<std::map<int64_t, std::pair<int64_t, std::string>>> verify_group(AdminClient& admin, DLedgerCluster& c,
                                                                             const std::string& topic, int queues,
                                                                             const std::vector<Ack>& acks,
                                                                             std::vector<size_t> members = {0, 1, 2}) {
  BlockingClient client;
  // Every member converges on the same log.
  REQUIRE_MESSAGE(wait_until([&] {
    int64_t a0 = applied_index(admin, *c.nodes[members[0]]);
    for (size_t m : members)
      if (applied_index(admin, *c.nodes[m]) != a0) return false;
    return a0 > 0;
  }, 30s), "members did not converge");
  const int leader = find_leader(admin, c);
  REQUIRE(leader >= 0);
  std::vector<std::map<int64_t, std::pair<int64_t, std::string>>> on_leader;
  for (int32_t q = 0; q < queues; ++q) on_leader.push_back(read_queue(client, c.addr(static_cast<size_t>(leader)), topic, q));
  // Acknowledged sends: present at the acknowledged queue offset and commit log offset, byte-exact.
  size_t missing = 0;
  std::map<int32_t, int64_t> last_offset;
  for (const auto& a : acks) {
    auto& q = on_leader[static_cast<size_t>(a.queue_id)];
    auto it = q.find(a.queue_offset);
    if (it == q.end() || it->second.first != a.commit_log_offset || body_of_record(it->second.second) != a.body) {
      if (++missing <= 5)
        FAIL_CHECK("acknowledged send '" << a.body.substr(0, 12) << "' not at queue " << a.queue_id << " offset "
                                         << a.queue_offset << " / commit log " << a.commit_log_offset << "; found "
                                         << (it == q.end() ? std::string("nothing")
                                                           : "'" + body_of_record(it->second.second).substr(0, 12) +
                                                                 "' at " + std::to_string(it->second.first))
                                         << " (queue holds " << q.size() << " records)");
    }
    // Per-queue order: later sends to a queue sit at higher offsets.
    auto lo = last_offset.find(a.queue_id);
    if (lo != last_offset.end()) CHECK(a.queue_offset > lo->second);
    last_offset[a.queue_id] = a.queue_offset;
  }
  CHECK_MESSAGE(missing == 0, missing << " of " << acks.size() << " acknowledged sends missing");
  // No send stored twice (bodies are unique per send).
  std::set<std::string> bodies;
  size_t records = 0;
  for (const auto& q : on_leader)
    for (const auto& [off, rec] : q) {
      ++records;
      CHECK_MESSAGE(bodies.insert(body_of_record(rec.second)).second, "body stored twice at offset " << off);
    }
  CHECK(records >= acks.size());
  // Every member serves the same bytes (followers read committed data like slaves).
  for (size_t i : members) {
    if (static_cast<int>(i) == leader) continue;
    for (int32_t q = 0; q < queues; ++q) {
      auto mine = read_queue(client, c.addr(i), topic, q);
      const auto& theirs = on_leader[static_cast<size_t>(q)];
      std::string diff;
      if (mine != theirs) {
        diff = "sizes " + std::to_string(mine.size()) + " vs " + std::to_string(theirs.size());
        for (const auto& [off, rec] : theirs) {
          auto it = mine.find(off);
          if (it == mine.end() || it->second != rec) {
            diff += "; first difference at queue offset " + std::to_string(off) +
                    (it == mine.end() ? " (missing)"
                                      : " (commit log " + std::to_string(it->second.first) + " vs " +
                                            std::to_string(rec.first) + ")");
            break;
          }
        }
      }
      if (mine != theirs) {
        // The member's own log says what it did (recovery cuts, dispatch errors).
        const std::string& out = c.nodes[i]->proc().output();
        diff += "\n--- member n" + std::to_string(i) + " log (tail) ---\n" + out.substr(out.size() > 6000 ? out.size() - 6000 : 0);
      }
      CHECK_MESSAGE(mine == theirs, "member n" << i << " queue " << q << " differs from the leader's: " << diff);
    }
  }
  return on_leader;
}

}  // namespace

// A group elects a leader that registers as brokerId 0, then loses it to kill -9 three times under
// continuous sends; nothing acknowledged is lost.
static void kill_rounds(const std::string& flush) {
  DLedgerCluster c(flush);
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s), c.nodes[0]->proc().output());
  const std::string topic = "DLTopic";
  // The route shows one group: the leader as brokerId 0 and both followers.
  BlockingClient client;
  int leader = find_leader(admin, c);
  {
    auto s = send_message(client, c.addr(static_cast<size_t>(leader)), topic, 0, "first");
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    CHECK(offset_of_msg_id(s.msg_id) >= 48);
    auto refused = send_message(client, c.addr(static_cast<size_t>((leader + 1) % 3)), topic, 0, "to a follower");
    CHECK(refused.code == rc::kServiceNotAvailable);
    REQUIRE_MESSAGE(wait_until([&] {
      auto r = admin.get_route(topic);
      if (!r.ok() || r->broker_datas.size() != 1) return false;
      const auto& addrs = r->broker_datas[0].broker_addrs;
      auto zero = addrs.find(0);
      return addrs.size() == 3 && zero != addrs.end() && zero->second == c.addr(static_cast<size_t>(leader));
    }, 15s), "route never showed the leader as brokerId 0 with two followers");
  }

  Sender sender(c, topic, 4);
  std::vector<int64_t> failover_ms;
  for (int round = 0; round < 3; ++round) {
    const size_t before = sender.acked();
    REQUIRE_MESSAGE(wait_until([&] { return sender.acked() >= before + 200; }, 30s), "sends stalled in round " << round);
    leader = find_leader(admin, c);
    REQUIRE(leader >= 0);
    auto killed_at = std::chrono::steady_clock::now();
    c.nodes[static_cast<size_t>(leader)]->kill9();
    const size_t at_kill = sender.acked();
    REQUIRE_MESSAGE(wait_until([&] { return sender.acked() >= at_kill + 50; }, 30s),
                    "no new leader took sends after kill -9 of n" << leader);
    auto first = sender.first_ack_after(killed_at, static_cast<size_t>(leader));
    REQUIRE(first.has_value());
    failover_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(*first - killed_at).count());
    int now_leader = find_leader(admin, c);
    CHECK(now_leader != leader);
    // The killed member restarts on its store and catches up.
    REQUIRE_MESSAGE(c.nodes[static_cast<size_t>(leader)]->start(), c.nodes[static_cast<size_t>(leader)]->proc().output());
    REQUIRE_MESSAGE(wait_until([&] {
      int l = find_leader(admin, c);
      if (l < 0) return false;
      int64_t a = applied_index(admin, *c.nodes[static_cast<size_t>(l)]);
      return a > 0 && applied_index(admin, *c.nodes[static_cast<size_t>(leader)]) >= a - 5;
    }, 30s), "restarted member did not catch up");
  }
  sender.stop();
  MESSAGE(flush << " failover (kill -9 to first acknowledged send), ms: " << failover_ms[0] << " " << failover_ms[1] << " "
                                                                << failover_ms[2]);

  verify_group(admin, c, topic, 4, sender.acks());
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: a leader is elected, registers as brokerId 0, and survives kill -9 of the leader under sends") {
  kill_rounds("ASYNC_FLUSH");
}

TEST_CASE("DLedger group, SYNC_FLUSH: kill -9 of the leader under sends loses nothing acknowledged") {
  kill_rounds("SYNC_FLUSH");
}

TEST_CASE("DLedger group: a frozen leader (SIGSTOP) is replaced; thawed, it steps down and converges") {
  DLedgerCluster c;
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  Sender sender(c, "DLFrozen", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 200; }, 30s));
  const int frozen = find_leader(admin, c);
  REQUIRE(frozen >= 0);
  c.nodes[static_cast<size_t>(frozen)]->proc().signal(SIGSTOP);
  // Another member leads and takes sends while the old leader cannot even notice.
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c, frozen) >= 0; }, 15s), "nobody replaced the frozen leader");
  BlockingClient client;
  const size_t next = static_cast<size_t>(find_leader(admin, c, frozen));
  REQUIRE_MESSAGE(wait_until([&] {
    return send_message(client, c.addr(next), "DLFrozen", 0, "while frozen", "", 1000).code == rc::kSuccess;
  }, 10s), "the new leader took no send");
  c.nodes[static_cast<size_t>(frozen)]->proc().signal(SIGCONT);
  REQUIRE(wait_until([&] { return find_leader(admin, c) == static_cast<int>(next); }, 15s));
  const size_t at = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= at + 200; }, 30s));
  sender.stop();
  verify_group(admin, c, "DLFrozen", 2, sender.acks());
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: leadership transfer to a named member while sends run, SYNC_FLUSH") {
  DLedgerCluster c("SYNC_FLUSH");
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  Sender sender(c, "DLTransfer", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 100; }, 30s));
  for (int round = 0; round < 2; ++round) {
    int leader = find_leader(admin, c);
    REQUIRE(leader >= 0);
    int target = (leader + 1) % 3;
    const std::string target_id = "n" + std::to_string(target);
    if (round == 0) {
      auto r = admin.dledger_transfer_leadership(c.addr(static_cast<size_t>(leader)), target_id);
      REQUIRE_MESSAGE(r.ok(), r.detail());
    } else {
      // The operator's way: mqadmin, finding the leader through the NameServer.
      auto r = run_command({binary("mqadmin"), "dledgerTransferLeader", "-n", c.ns.addr(), "-g", "dl-a", "-i", target_id});
      REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    }
    REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) == target; }, 15s),
                    "n" << target << " did not take over from n" << leader);
    const size_t at = sender.acked();
    REQUIRE(wait_until([&] { return sender.acked() >= at + 50; }, 30s));
  }
  sender.stop();
  verify_group(admin, c, "DLTransfer", 2, sender.acks());
  // mqadmin dledgerStatus shows the group as the leader sees it: three voters, none lagging far.
  const int leader = find_leader(admin, c);
  auto st = run_command({binary("mqadmin"), "dledgerStatus", "-b", c.addr(static_cast<size_t>(leader))});
  REQUIRE_MESSAGE(st.exit_code == 0, st.output);
  CHECK_MESSAGE(st.output.find("role leader") != std::string::npos, st.output);
  for (const char* id : {"n0 ", "n1 ", "n2 "}) CHECK_MESSAGE(st.output.find(id) != std::string::npos, st.output);
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: a leader cut off from its group stops acknowledging, a cut-off follower falls behind; healed, both converge") {
  DLedgerCluster c("ASYNC_FLUSH", "dLegerFaultInjectionEnable=true\n");
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  Sender sender(c, "DLPartition", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 200; }, 30s));
  const int old_leader = find_leader(admin, c);
  REQUIRE(old_leader >= 0);
  const std::string old_addr = c.addr(static_cast<size_t>(old_leader));
  BlockingClient client;
  auto isolate = [&](bool on) {
    RemotingCommand req = RemotingCommand::request(request_code::kDLedgerInjectFault);
    req.ext_fields.set("isolate", std::string(on ? "true" : "false"));
    auto r = client.invoke(old_addr, std::move(req), 3000);
    return r.ok() && r->code == rc::kSuccess;
  };
  REQUIRE(isolate(true));
  // The minority leader acknowledges nothing from now on; within about an election timeout (check
  // quorum) it stops taking sends at all.
  std::vector<std::string> refused_bodies;
  REQUIRE_MESSAGE(wait_until([&] {
    std::string body = "to-the-minority-" + std::to_string(refused_bodies.size());
    auto s = send_message(client, old_addr, "DLPartition", 0, body);
    CHECK_MESSAGE(s.code != rc::kSuccess, "the cut-off leader acknowledged '" << body << "'");
    refused_bodies.push_back(body);
    return s.code == rc::kServiceNotAvailable;
  }, 10s), "the cut-off leader kept taking sends");
  // The majority elects a new leader and takes sends.
  REQUIRE(wait_until([&] { return find_leader(admin, c, old_leader) >= 0; }, 15s));
  const size_t at = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= at + 200; }, 30s));
  REQUIRE(isolate(false));
  // A follower cut off in its turn misses sends (the other two still form a quorum) and converges
  // once healed.
  const int new_leader = find_leader(admin, c, old_leader);
  REQUIRE(new_leader >= 0);
  const size_t cut = 3 - static_cast<size_t>(old_leader) - static_cast<size_t>(new_leader);
  RemotingCommand cut_req = RemotingCommand::request(request_code::kDLedgerInjectFault);
  cut_req.ext_fields.set("isolate", std::string("true"));
  auto cut_r = client.invoke(c.addr(cut), std::move(cut_req), 3000);
  REQUIRE((cut_r.ok() && cut_r->code == rc::kSuccess));
  const size_t before_cut = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= before_cut + 200; }, 30s));
  CHECK(applied_index(admin, *c.nodes[cut]) < applied_index(admin, *c.nodes[static_cast<size_t>(new_leader)]));
  RemotingCommand heal_req = RemotingCommand::request(request_code::kDLedgerInjectFault);
  heal_req.ext_fields.set("isolate", std::string("false"));
  auto heal_r = client.invoke(c.addr(cut), std::move(heal_req), 3000);
  REQUIRE((heal_r.ok() && heal_r->code == rc::kSuccess));
  sender.stop();
  auto queues = verify_group(admin, c, "DLPartition", 2, sender.acks());
  // What the minority leader appended was never committed, and is gone everywhere.
  for (const auto& q : queues)
    for (const auto& [off, rec] : q)
      CHECK_MESSAGE(body_of_record(rec.second).rfind("to-the-minority-", 0) != 0,
                    "an entry of the cut-off leader was committed at offset " << off);
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: a member added at run time catches up as a learner, is promoted, and a member is removed, while sends run") {
  DLedgerCluster c;
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  // n3 joins: its file names the group's members and itself, and says it joins.
  int port3 = free_port();
  while (std::count(c.raft_ports.begin(), c.raft_ports.end(), port3)) port3 = free_port();
  std::string peers;
  for (int i = 0; i < 3; ++i) peers += "n" + std::to_string(i) + "-127.0.0.1:" + std::to_string(c.raft_ports[static_cast<size_t>(i)]) + ";";
  const std::string addr3 = "127.0.0.1:" + std::to_string(port3);
  BrokerSpec spec{"dl-a", 3, "ASYNC_MASTER", "ASYNC_FLUSH", 0,
                  "enableDLegerCommitLog=true\ndLegerGroup=dl-a\ndLegerPeers=" + peers + "n3-" + addr3 +
                      "\ndLegerSelfId=n3\ndLegerJoinGroup=true\n"};
  c.nodes.push_back(std::make_unique<ContainerProcess>(c.ns.addr(), std::vector<BrokerSpec>{spec}, c.dir.file("n3"), "TestCluster"));
  Sender sender(c, "DLMembers", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 300; }, 30s));
  REQUIRE_MESSAGE(c.nodes[3]->start(), c.nodes[3]->proc().output());
  CHECK_FALSE(dledger_status(admin, *c.nodes[3]).value("member", true));
  auto leader_addr = [&] {
    int l = find_leader(admin, c);
    return l < 0 ? std::string() : c.addr(static_cast<size_t>(l));
  };
  auto r = admin.dledger_change_membership(leader_addr(), "addLearner", "n3", addr3);
  REQUIRE_MESSAGE(r.ok(), r.detail());
  // The learner catches up without voting, then is promoted (refused while it lags).
  REQUIRE_MESSAGE(wait_until([&] {
    int l = find_leader(admin, c);
    if (l < 0) return false;
    int64_t a = applied_index(admin, *c.nodes[static_cast<size_t>(l)]);
    return dledger_status(admin, *c.nodes[3]).value("member", false) && applied_index(admin, *c.nodes[3]) >= a - 20;
  }, 30s), c.nodes[3]->proc().output());
  REQUIRE_MESSAGE(wait_until([&] { return admin.dledger_change_membership(leader_addr(), "promote", "n3").ok(); }, 15s),
                  "promotion of n3 refused");
  auto voters = [&](ContainerProcess& n) {
    std::set<std::string> out;
    auto s = dledger_status(admin, n);
    if (s.is_object())
      for (const auto& m : s["members"])
        if (m.value("voter", false)) out.insert(m.value("id", ""));
    return out;
  };
  REQUIRE(wait_until([&] { return voters(*c.nodes[3]) == std::set<std::string>{"n0", "n1", "n2", "n3"}; }, 15s));
  // Remove a follower other than n3 (one change at a time: retried until the promotion committed).
  int leader = find_leader(admin, c);
  REQUIRE(leader >= 0);
  size_t gone = leader == 2 ? 1 : 2;
  const std::string gone_id = "n" + std::to_string(gone);
  REQUIRE_MESSAGE(wait_until([&] { return admin.dledger_change_membership(leader_addr(), "remove", gone_id).ok(); }, 15s),
                  "removal of " << gone_id << " refused");
  std::set<std::string> remaining{"n0", "n1", "n2", "n3"};
  remaining.erase(gone_id);
  REQUIRE(wait_until([&] { return voters(*c.nodes[3]) == remaining; }, 15s));
  const size_t at = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= at + 300; }, 30s));
  sender.stop();
  std::vector<size_t> members;
  for (size_t i = 0; i < 4; ++i)
    if (i != gone) members.push_back(i);
  verify_group(admin, c, "DLMembers", 2, sender.acks(), members);
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: the preferred leader takes leadership back once caught up, and consumer offsets never roll back") {
  DLedgerCluster c("ASYNC_FLUSH", "preferredLeaderId=n0\n");
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) == 0; }, 20s), "n0 never led");
  Sender sender(c, "DLPreferred", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 200; }, 30s));
  BlockingClient client;
  auto commit = [&](size_t member, int64_t offset) {
    RemotingCommand req = RemotingCommand::request(request_code::kUpdateConsumerOffset);
    req.ext_fields.set("consumerGroup", std::string("dl_group"));
    req.ext_fields.set("topic", std::string("DLPreferred"));
    req.ext_fields.set("queueId", int32_t{0});
    req.ext_fields.set("commitOffset", offset);
    auto r = client.invoke(c.addr(member), std::move(req), 3000);
    if (!r.ok()) r = client.invoke(c.addr(member), std::move(req), 3000);  // a connection from before a kill
    return r.ok() && r->code == rc::kSuccess;
  };
  auto query = [&](size_t member) -> int64_t {
    for (int attempt = 0; attempt < 2; ++attempt) {
      RemotingCommand req = RemotingCommand::request(request_code::kQueryConsumerOffset);
      req.ext_fields.set("consumerGroup", std::string("dl_group"));
      req.ext_fields.set("topic", std::string("DLPreferred"));
      req.ext_fields.set("queueId", int32_t{0});
      auto r = client.invoke(c.addr(member), std::move(req), 3000);
      if (r.ok()) return r->code == rc::kSuccess ? HeaderReader(r->ext_fields).i64_or("offset", -1) : -1;
    }
    return -1;
  };
  REQUIRE(commit(0, 10));
  // Followers copy offsets from the leader every second.
  REQUIRE(wait_until([&] { return query(1) == 10 && query(2) == 10; }, 10s));
  c.nodes[0]->kill9();
  REQUIRE(wait_until([&] { return find_leader(admin, c, 0) >= 0; }, 15s));
  const size_t interim = static_cast<size_t>(find_leader(admin, c, 0));
  CHECK(query(interim) == 10);
  REQUIRE(commit(interim, 20));
  // n0 returns, catches up and takes leadership back; the offset committed on the interim leader
  // comes with it (not the one it had before its crash).
  REQUIRE_MESSAGE(c.nodes[0]->start(), c.nodes[0]->proc().output());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) == 0; }, 30s), "n0 did not take leadership back");
  c.nodes[0]->proc().wait_for_line("(never printed)", 300ms);
  CHECK_MESSAGE(query(0) == 20, c.nodes[0]->proc().output());
  const size_t at = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= at + 200; }, 30s));
  CHECK(query(0) == 20);
  sender.stop();
  verify_group(admin, c, "DLPreferred", 2, sender.acks());
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger group: a member whose disk fills pauses instead of stopping; a full leader hands over; with space back it catches up and leads again") {
  // n0, the preferred leader, keeps its store on a small loop-mounted ext4 image; the others on the
  // temp dir. Filling n0's image pauses it (no votes, no appends, "diskFull" in its status), the
  // other two elect a leader and keep taking sends; freeing the space resumes n0, which catches up
  // and takes its leadership back. Nothing acknowledged is lost, and the logs agree.
  TempDir tmp;
  LoopMount disk(tmp.file("n0.img"), tmp.file("n0-disk"), 256);
  if (!disk.ok()) {
    MESSAGE("skipped: cannot loop-mount a small disk: " << disk.why());
    return;
  }
  DLedgerCluster c("ASYNC_FLUSH", "preferredLeaderId=n0\nmappedFileSizeConsumeQueue=12000\n", "dl-full", "TestCluster",
                   {tmp.file("n0-disk") + "/store", tmp.file("n1-store"), tmp.file("n2-store")});
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) == 0; }, 30s), "n0 never led");
  Sender sender(c, "DLFull", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 200; }, 30s));

  // Leave about 512 KiB (ext4 needs some of what is left for the ballast's own extents): the
  // sends use up the rest within a second.
  const std::string ballast = tmp.file("n0-disk") + "/ballast";
  const int64_t avail = available_bytes(tmp.file("n0-disk"));
  REQUIRE(avail > (8 << 20));
  auto fa = sh("fallocate -l " + std::to_string(avail - (512 << 10)) + " " + ballast);
  REQUIRE_MESSAGE(fa.exit_code == 0, "fallocate: " << fa.output);
  REQUIRE_MESSAGE(wait_until([&] { return dledger_status(admin, *c.nodes[0]).value("diskFull", false); }, 60s),
                  "n0 did not pause on its full disk; status: " << dledger_status(admin, *c.nodes[0]).dump()
                                                                << ", free " << available_bytes(tmp.file("n0-disk")));
  const std::string paused = dledger_status(admin, *c.nodes[0]).value("pausedBecause", "");
  CHECK_MESSAGE(paused.find("disk is full") != std::string::npos, "expected the reason, got: " << paused);
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c, 0) >= 0; }, 20s), "nobody replaced the full leader");
  const size_t during = sender.acked();
  REQUIRE_MESSAGE(wait_until([&] { return sender.acked() >= during + 200; }, 30s),
                  "the group took no sends without n0 (acked " << sender.acked() << ")");
  CHECK(c.nodes[0]->proc().running());

  REQUIRE(std::filesystem::remove(ballast));
  REQUIRE_MESSAGE(wait_until([&] {
                    auto s = dledger_status(admin, *c.nodes[0]);
                    return s.contains("role") && !s.value("diskFull", false);
                  }, 30s),
                  "n0 did not resume; status: " << dledger_status(admin, *c.nodes[0]).dump() << "\nn0's log:\n"
                                                  << c.nodes[0]->proc().output());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) == 0; }, 60s),
                  "n0 did not take leadership back; n0: " << dledger_status(admin, *c.nodes[0]).dump());
  const size_t after = sender.acked();
  REQUIRE(wait_until([&] { return sender.acked() >= after + 200; }, 30s));
  sender.stop();
  verify_group(admin, c, "DLFull", 2, sender.acks());
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("Cross-deployment: three containers carry one DLedger leader each, beside a master and a slave; a DLedger member is hot-added") {
  NamesrvProcess ns;
  TempDir dir;
  // Ports: for each (machine m, group g) a broker port; for each group three Raft ports.
  std::set<int> taken;
  auto port = [&](bool broker) {
    while (true) {
      int p = broker ? free_broker_port() : free_port();
      if (taken.count(p) || (broker && (taken.count(p - 2) || taken.count(p + 1)))) continue;
      taken.insert(p);
      if (broker) taken.insert({p - 2, p + 1});
      return p;
    }
  };
  const std::vector<std::string> groups = {"x-a", "x-b", "x-c"};
  std::map<std::string, std::string> peers;
  for (const auto& g : groups)
    for (int m = 0; m < 3; ++m)
      peers[g] += (m ? ";n" : "n") + std::to_string(m) + "-127.0.0.1:" + std::to_string(port(false));
  std::vector<std::vector<BrokerSpec>> specs(3);
  for (int m = 0; m < 3; ++m)
    for (size_t g = 0; g < groups.size(); ++g)
      specs[static_cast<size_t>(m)].push_back(
          BrokerSpec{groups[g], m, "ASYNC_MASTER", "ASYNC_FLUSH", port(true),
                     "enableDLegerCommitLog=true\ndLegerPeers=" + peers[groups[g]] + "\ndLegerSelfId=n" +
                         std::to_string(m) + "\npreferredLeaderId=n" + std::to_string(g) + "\n"});
  // Machine 0 also hosts a plain master, machine 1 its slave.
  specs[0].push_back(BrokerSpec{"plain-m", 0, "ASYNC_MASTER", "ASYNC_FLUSH", port(true), ""});
  specs[1].push_back(BrokerSpec{"plain-m", 1, "SLAVE", "ASYNC_FLUSH", port(true), "slaveSyncInterval=300\n"});
  std::vector<std::unique_ptr<ContainerProcess>> machines;
  for (int m = 0; m < 3; ++m) {
    machines.push_back(std::make_unique<ContainerProcess>(ns.addr(), specs[static_cast<size_t>(m)],
                                                          dir.file("m" + std::to_string(m)), "TestCluster", port(false)));
    REQUIRE_MESSAGE(machines.back()->start(), machines.back()->proc().output());
  }
  AdminClient admin(ns.addr());
  // Each machine leads the group whose preferred leader it hosts: one leader per machine.
  auto leaders_of = [&](ContainerProcess& c) {
    std::vector<std::string> out;
    auto s = admin.container_status(c.admin_addr());
    if (!s.ok()) return out;
    auto j = nlohmann::json::parse(*s, nullptr, false);
    if (!j.is_object()) return out;
    for (const auto& b : j["brokers"])
      if (b.contains("dledger") && b["dledger"].value("leaderReady", false)) out.push_back(b.value("brokerName", ""));
    return out;
  };
  REQUIRE_MESSAGE(wait_until([&] {
    for (size_t m = 0; m < 3; ++m) {
      auto l = leaders_of(*machines[m]);
      if (l.size() != 1 || l[0] != groups[m]) return false;
    }
    return true;
  }, 30s), "leaders are not spread one per machine");
  BlockingClient client;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto s = send_message(client, machines[g]->broker_addr(g), "XTopic", 0, "to " + groups[g]);
    CHECK_MESSAGE(s.code == rc::kSuccess, groups[g] << ": " << s.remark);
  }
  auto plain = send_message(client, machines[0]->broker_addr(3), "XTopic", 0, "to the plain master");
  CHECK_MESSAGE(plain.code == rc::kSuccess, plain.remark);
  // Four brokers (three Raft groups) on one loop and one worker pool: the loop thread plus the pool.
  {
    auto st = admin.container_status(machines[0]->admin_addr());
    REQUIRE(st.ok());
    auto j = nlohmann::json::parse(*st);
    CHECK_MESSAGE(j["threads"].get<int>() == j["workerPoolThreads"].get<int>() + 1, j.dump());
  }
  // A fourth DLedger group's only member, hot-added to machine 2 with ADD_BROKER: it elects itself.
  const std::string solo = dir.file("solo.conf");
  const int solo_port = port(true), solo_raft = port(false);
  dir.write("solo.conf", "brokerClusterName=TestCluster\nbrokerName=x-solo\nbrokerIP1=127.0.0.1\nlistenPort=" +
                             std::to_string(solo_port) + "\nstorePathRootDir=" + dir.file("solo-store") +
                             "\nmappedFileSizeCommitLog=1048576\nregisterNameServerPeriod=2000\nenableDLegerCommitLog=true\n"
                             "dLegerPeers=n0-127.0.0.1:" + std::to_string(solo_raft) + "\ndLegerSelfId=n0\n");
  auto added = admin.add_broker(machines[2]->admin_addr(), solo);
  REQUIRE_MESSAGE(added.ok(), added.detail());
  const std::string solo_addr = "127.0.0.1:" + std::to_string(solo_port);
  REQUIRE_MESSAGE(wait_until([&] {
    return send_message(client, solo_addr, "XTopic", 0, "to the solo group", "", 1000).code == rc::kSuccess;
  }, 15s), "the hot-added DLedger member never took a send");
  // Its Raft port now belongs to the container: a second broker claiming it is refused.
  dir.write("clash.conf", "brokerClusterName=TestCluster\nbrokerName=x-clash\nbrokerIP1=127.0.0.1\nlistenPort=" +
                              std::to_string(port(true)) + "\nstorePathRootDir=" + dir.file("clash-store") +
                              "\nenableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:" + std::to_string(solo_raft) +
                              "\ndLegerSelfId=n0\n");
  auto clash = admin.add_broker(machines[2]->admin_addr(), dir.file("clash.conf"));
  CHECK_FALSE(clash.ok());
  CHECK_MESSAGE(clash.detail().find("dLegerPeers") != std::string::npos, clash.detail());
  for (auto& m : machines) CHECK(m->stop() == 0);
}

TEST_CASE("DLedger: expired data files are deleted once applied, queues follow, and members restart on the shortened log") {
  std::string hours;
  for (int h = 0; h < 24; ++h) hours += (h ? ";" : "") + std::to_string(h);
  DLedgerCluster c("ASYNC_FLUSH", "fileReservedTime=0\ndeleteWhen=" + hours + "\n", "dl-a", "TestCluster", {}, 65536);
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  const size_t leader = static_cast<size_t>(find_leader(admin, c));
  BlockingClient client;
  for (int i = 0; i < 600; ++i) {
    auto s = send_message(client, c.addr(leader), "DLExpiry", i % 2, "expiry-" + std::to_string(i) + std::string(1000, 'e'));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
  }
  auto data_files = [&](size_t member) {
    size_t n = 0;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(
             c.dir.file("n" + std::to_string(member)) + "/store-dl-a-" + std::to_string(member) + "/dledger-n" +
                 std::to_string(member) + "/data", ec))
      if (e.is_regular_file()) ++n;
    return n;
  };
  // ~620 KB in 64 KiB files: about ten; expiry (every 5 s) leaves the file being written and the
  // one before it at most.
  REQUIRE_MESSAGE(wait_until([&] { return data_files(leader) <= 2 && data_files((leader + 1) % 3) <= 2; }, 30s),
                  "data files left: " << data_files(leader));
  // The queues start later now: a reader from 0 is sent to the new minimum.
  REQUIRE(wait_until([&] {
    auto p = pull_messages(client, c.addr(leader), "dl_reader", "DLExpiry", 0, 0, 1);
    return p.code != rc::kSuccess && p.next_begin_offset > 0;
  }, 15s));
  auto p = pull_messages(client, c.addr(leader), "dl_reader", "DLExpiry", 0, 299, 1);
  REQUIRE(p.code == rc::kSuccess);
  CHECK(std::string(p.records[0].body).rfind("expiry-598", 0) == 0);
  // A member restarts on its shortened log, takes new entries and serves the same records.
  const size_t follower = (leader + 1) % 3;
  c.nodes[follower]->kill9();
  REQUIRE_MESSAGE(c.nodes[follower]->start(), c.nodes[follower]->proc().output());
  for (int i = 600; i < 620; ++i) {
    auto s = send_message(client, c.addr(leader), "DLExpiry", i % 2, "expiry-" + std::to_string(i));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
  }
  REQUIRE(wait_until([&] { return applied_index(admin, *c.nodes[follower]) == applied_index(admin, *c.nodes[leader]); }, 20s));
  auto on_follower = pull_messages(client, c.addr(follower), "dl_reader", "DLExpiry", 0, 309, 1);
  REQUIRE(on_follower.code == rc::kSuccess);
  CHECK(std::string(on_follower.records[0].body) == "expiry-618");
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger: a store written by a Java 4.9.4 DLedger group opens, serves its manifest byte-exact, and appends") {
  const std::string fixture = std::string(MQ_FIXTURES_DIR) + "/java494-dledger";
  auto manifest = nlohmann::json::parse(read_file(std::string(MQ_FIXTURES_DIR) + "/java494-dledger.manifest.json"));
  TempDir copies;
  std::vector<std::string> store_dirs;
  for (int i = 0; i < 3; ++i) {
    std::string node = "n" + std::to_string(i);
    std::filesystem::copy(fixture + "/" + node, copies.file(node), std::filesystem::copy_options::recursive);
    store_dirs.push_back(copies.file(node));
  }
  // The fixture is stored without trailing zeros: extend every file back to its length.
  for (const auto& [path, f] : manifest["files"].items()) {
    std::string p = copies.file(path);
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::resize_file(p, f["length"].get<uint64_t>());
  }
  DLedgerCluster c("ASYNC_FLUSH", "mappedFileSizeConsumeQueue=600\nmaxHashSlotNum=50\nmaxIndexNum=200\n",
                   manifest["broker_name"].get<std::string>(),
                   manifest["broker_cluster"].get<std::string>(), store_dirs, 65536);
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE_MESSAGE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s), c.nodes[0]->proc().output());
  const int leader = find_leader(admin, c);
  const std::string topic = manifest["topic"];
  const std::string data_dir = fixture + "/n0/dledger-n0/data/";
  BlockingClient client;
  std::map<std::string, std::string> data_files;
  size_t checked = 0;
  for (const auto& m : manifest["sent"]) {
    const auto& rec = m["record"];
    auto p = pull_messages(client, c.addr(static_cast<size_t>(leader)), "dl_fixture_reader", topic,
                           m["queueId"].get<int32_t>(), m["queueOffset"].get<int64_t>(), 1);
    REQUIRE_MESSAGE(p.code == rc::kSuccess, "seq " << m["seq"] << ": " << p.remark);
    REQUIRE(p.records.size() == 1);
    CHECK(p.records[0].physical_offset == rec["commitLogOffset"].get<int64_t>());
    CHECK(p.records[0].queue_offset == m["queueOffset"].get<int64_t>());
    CHECK(offset_of_msg_id(m["offsetMsgId"]) == rec["commitLogOffset"].get<int64_t>());
    // Byte-exact: the record is the body of its DLedger entry in the Java-written data file.
    std::string file = rec["data_file"];
    if (!data_files.count(file)) data_files[file] = read_file(data_dir + file);
    const std::string& data = data_files[file];
    const size_t at = rec["data_file_position"].get<size_t>() + 48;
    const size_t size = rec["storeSize"].get<size_t>();
    REQUIRE(at + size <= data.size());
    CHECK(p.body == data.substr(at, size));
    CHECK(find_property(p.records[0].properties, "UNIQ_KEY").value_or("") == m["uniq_key"].get<std::string>());
    ++checked;
  }
  CHECK(checked == manifest["sent"].size());
  // Consumer offsets kept.
  for (const auto& [group, queues] : manifest["consumer_groups"]["committed_offsets"].items())
    for (const auto& [q, off] : queues.items()) {
      RemotingCommand req = RemotingCommand::request(request_code::kQueryConsumerOffset);
      req.ext_fields.set("consumerGroup", group);
      req.ext_fields.set("topic", topic);
      req.ext_fields.set("queueId", static_cast<int32_t>(std::stoi(q)));
      auto r = client.invoke(c.addr(static_cast<size_t>(leader)), std::move(req), 3000);
      REQUIRE(r.ok());
      CHECK(HeaderReader(r->ext_fields).i64_or("offset", -1) == off.get<int64_t>());
    }
  // New messages continue after the Java ones, in every queue.
  for (int32_t q = 0; q < 4; ++q) {
    const int64_t end = manifest["final_max_offsets"][std::to_string(q)].get<int64_t>();
    auto s = send_message(client, c.addr(static_cast<size_t>(leader)), topic, q, "after-java-" + std::to_string(q));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    CHECK(s.queue_offset == end);
    CHECK(offset_of_msg_id(s.msg_id) > 254622);
    auto p = pull_messages(client, c.addr(static_cast<size_t>(leader)), "dl_fixture_reader", topic, q, end, 1);
    REQUIRE(p.code == rc::kSuccess);
    CHECK(std::string(p.records[0].body) == "after-java-" + std::to_string(q));
  }
  for (auto& n : c.nodes) CHECK(n->stop() == 0);
}

TEST_CASE("DLedger: the leader delivers delayed and timed messages, answers send-backs and commits transactions; "
          "after a leadership change the new leader delivers what is still parked") {
  DLedgerCluster c("ASYNC_FLUSH", "messageDelayLevel=1s 1s 1s 2s\n");
  for (auto& n : c.nodes) REQUIRE_MESSAGE(n->start(), n->proc().output());
  AdminClient admin(c.ns.addr());
  REQUIRE(wait_until([&] { return find_leader(admin, c) >= 0; }, 20s));
  int leader = find_leader(admin, c);
  REQUIRE(create_topic(c.ns.addr(), "TestCluster", "DlSemantics", 1));
  BlockingClient client;
  auto send_to_leader = [&](const std::string& props, const std::string& body) {
    SendOutcome s;
    wait_until([&] {
      leader = find_leader(admin, c);
      if (leader < 0) return false;
      s = send_message(client, c.addr(static_cast<size_t>(leader)), "DlSemantics", 0, body, props);
      return s.code == rc::kSuccess;
    }, 20s);
    return s;
  };
  REQUIRE(send_to_leader("", "plain").code == rc::kSuccess);
  REQUIRE(send_to_leader(encode_properties({{"UNIQ_KEY", "dl-delay"}, {"DELAY", "2"}}), "delayed").code == rc::kSuccess);
  REQUIRE(send_to_leader(encode_properties({{"UNIQ_KEY", "dl-timer"}, {"TIMER_DELAY_MS", "1500"}}), "timed").code ==
          rc::kSuccess);
  // Parked for 4 s (level 4): hand leadership over meanwhile; the new leader delivers it.
  REQUIRE(send_to_leader(encode_properties({{"UNIQ_KEY", "dl-late"}, {"DELAY", "4"}}), "late").code == rc::kSuccess);
  const int first_leader = leader;
  const std::string target = "n" + std::to_string((first_leader + 1) % 3);
  RemotingCommand t = RemotingCommand::request(request_code::kDLedgerTransferLeadership);
  t.ext_fields.set("transfereeId", target);
  auto tr = client.invoke(c.addr(static_cast<size_t>(first_leader)), std::move(t), 10000);
  REQUIRE(tr.ok());
  CHECK_MESSAGE(tr->code == rc::kSuccess, tr->remark.value_or(""));
  REQUIRE(wait_until([&] { int l = find_leader(admin, c); return l >= 0 && l != first_leader; }, 20s));
  std::set<std::string> seen;
  REQUIRE_MESSAGE(wait_until([&] {
    leader = find_leader(admin, c);
    if (leader < 0) return false;
    auto p = pull_messages(client, c.addr(static_cast<size_t>(leader)), "dl_reader", "DlSemantics", 0, 0);
    for (const auto& r : p.records) seen.insert(std::string(find_property(r.properties, "UNIQ_KEY").value_or("plain")));
    return seen.count("dl-delay") && seen.count("dl-timer") && seen.count("dl-late");
  }, 30s), "delivered: " << seen.size() << " kinds");
}

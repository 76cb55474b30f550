// RebalanceLockManager: one holder per queue and group, renewals, expiry after 60 s, unlocks.
#include <doctest/doctest.h>

#include "broker/rebalance_lock_manager.h"

using namespace mq;

TEST_CASE("queue locks: one client per group holds a queue until it unlocks or stops renewing for 60 s") {
  RebalanceLockManager locks;
  const LockedQueue q0{"T", "broker-a", 0}, q1{"T", "broker-a", 1};
  int64_t now = 1'000'000;
  auto got = locks.try_lock_batch("G", {q0, q1}, "client-1", now);
  CHECK(got == std::vector<LockedQueue>{q0, q1});
  // A second client of the group gets neither; another group is independent.
  CHECK(locks.try_lock_batch("G", {q0, q1}, "client-2", now + 1000).empty());
  CHECK(locks.try_lock_batch("H", {q0}, "client-2", now + 1000) == std::vector<LockedQueue>{q0});
  CHECK(locks.is_locked("G", q0, "client-1", now + 1000));
  CHECK_FALSE(locks.is_locked("G", q0, "client-2", now + 1000));
  // Renewal keeps the lock alive past the first 60 s.
  now += 50'000;
  CHECK(locks.try_lock_batch("G", {q0}, "client-1", now).size() == 1);
  now += 50'000;  // q0 renewed 50 s ago, q1 100 s ago
  CHECK(locks.holder("G", q0, now) == "client-1");
  CHECK(locks.holder("G", q1, now).empty());
  got = locks.try_lock_batch("G", {q0, q1}, "client-2", now);
  CHECK(got == std::vector<LockedQueue>{q1});  // the expired one is taken over
  // Unlocking someone else's queue does nothing; one's own frees it at once.
  locks.unlock_batch("G", {q0}, "client-2");
  CHECK(locks.holder("G", q0, now) == "client-1");
  locks.unlock_batch("G", {q0}, "client-1");
  CHECK(locks.holder("G", q0, now).empty());
  CHECK(locks.try_lock_batch("G", {q0}, "client-2", now) == std::vector<LockedQueue>{q0});
  locks.remove_group("G");
  CHECK(locks.holder("G", q0, now).empty());
}

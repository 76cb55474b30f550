// The event loop every broker of a process shares, and the one way other threads reach it.
//
// One thread runs the loop and owns all network I/O and all broker state. Other threads (the
// worker pool, signal handling, tests) hand it work through post(): a lock-free list plus one
// uv_async_t whose callback drains the whole list (uv_async_send coalesces wake-ups).
//
// Handles (timers, TCP) are owned objects: the C++ object may be destroyed at any time on the loop
// thread; the uv handle it wraps is closed then and its memory freed in the close callback, after
// which no callback of the destroyed object can run. close_and_drain() closes the loop's own handles
// and runs the loop until every handle is gone, then asserts uv_loop_close() == 0, so a leaked
// handle fails loudly instead of silently keeping the loop alive.
//
// Write batching: the loop has two flush points per iteration, just before it polls (after timers
// and posted work) and just after the I/O callbacks. A connection writes its first bytes between
// two flush points at once (the answer to a lone request leaves without delay) and queues the rest
// for the next flush point, so a burst of frames to one peer costs one write.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct uv_loop_s;
struct uv_async_s;
struct uv_prepare_s;
struct uv_check_s;
struct uv_timer_s;
struct uv_signal_s;

namespace mq {

class TcpConnection;

// Runs fn, catching any exception so none crosses into libuv; what escaped is logged as a bug with
// `where`. Every callback the runtime invokes goes through it.
void run_guarded(const char* where, const std::function<void()>& fn);

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_s* raw() { return loop_; }

  // Runs until stop() or until no referenced handle is active. Call on the owning thread.
  void run();
  // Runs callbacks until `done()` is true (checked after each loop iteration) or the loop has no
  // more work. For tools and tests that drive a request synchronously.
  void run_until(const std::function<bool()>& done);
  // Thread-safe: asks the run() in progress to return. A stop that reaches the loop when no run()
  // is in progress does nothing (it must not cut a later close_and_drain short).
  void stop();
  // Thread-safe: runs fn on the loop thread, in posting order.
  void post(std::function<void()> fn);
  bool in_loop_thread() const { return std::this_thread::get_id() == loop_thread_; }
  // Milliseconds from the loop's cached monotonic clock.
  int64_t now_ms() const;
  // Updates the cached clock first: for deadlines set from code that may run after the loop sat
  // idle (a blocking client's first request after a long pause would otherwise expire at once).
  int64_t fresh_now_ms();
  // Closes the loop's own handles, runs until every other handle has closed too, and asserts the
  // loop closed cleanly. Call once, after all owned handle objects were destroyed.
  void close_and_drain();

  // Write batching (see above): the number of flush points passed so far, and a connection to
  // flush at the next one. Loop thread only.
  uint64_t flush_epoch() const { return flush_epoch_; }
  void flush_at_next_point(std::weak_ptr<TcpConnection> conn) { to_flush_.push_back(std::move(conn)); }
  // Runs fn at the next flush point, before the connections flush (loop thread only): for work that
  // should see every input of this loop iteration at once (a Raft Ready cycle: one disk write and
  // one push per follower for all the sends that arrived together) and whose writes should leave
  // in the same flush. Work deferred by deferred work runs at the same flush point.
  void at_flush_point(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }
  // The EventLoop that owns a uv loop.
  static EventLoop& of(uv_loop_s* loop);

 private:
  static void on_async(uv_async_s* handle);
  void drain_posted();
  void flush_point();

  uv_loop_s* loop_;
  uv_async_s* async_;
  uv_prepare_s* prepare_;
  uv_check_s* check_;
  uint64_t flush_epoch_ = 0;
  std::vector<std::weak_ptr<TcpConnection>> to_flush_;
  std::vector<std::weak_ptr<TcpConnection>> flushing_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> running_deferred_;
  // Posted work: a lock-free stack (newest first) that the loop takes whole. Posting threads never
  // wait for the loop, and the loop never sleeps on a lock the posters hold.
  struct PostedTask {
    std::function<void()> fn;
    PostedTask* next;
  };
  std::atomic<PostedTask*> posted_head_{nullptr};
  bool closed_ = false;
  bool running_ = false;  // inside run(): a posted stop() applies
  std::atomic<bool> async_closed_{false};
  std::thread::id loop_thread_;
};

// A one-shot or repeating timer on the loop. Destroying it stops it; callbacks never run after.
class Timer {
 public:
  explicit Timer(EventLoop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // First fire after `timeout_ms`, then every `repeat_ms` (0 = once). Replaces any earlier start.
  void start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> fn);
  void stop();

 private:
  static void on_timer(uv_timer_s* handle);
  uv_timer_s* handle_;
  std::function<void()> fn_;
};

// Runs `fn` on the loop when the process gets SIGINT or SIGTERM.
class SignalWatcher {
 public:
  SignalWatcher(EventLoop& loop, std::function<void(int signum)> fn);
  ~SignalWatcher();

 private:
  static void on_signal(uv_signal_s* handle, int signum);
  uv_signal_s* sigint_;
  uv_signal_s* sigterm_;
  std::function<void(int)> fn_;
};

}  // namespace mq

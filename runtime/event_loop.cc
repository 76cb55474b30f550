#include "runtime/event_loop.h"

#include <uv.h>

#include <csignal>
#include <mutex>

#include "base/check.h"
#include "base/log.h"
#include "runtime/tcp.h"

namespace mq {

void run_guarded(const char* where, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    Logger().error(std::string("BUG: exception escaped ") + where + ": " + e.what());
  } catch (...) {
    Logger().error(std::string("BUG: unknown exception escaped ") + where);
  }
}

namespace {
template <typename H>
void close_and_free(H* handle) {
  handle->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<H*>(h); });
}
}  // namespace

EventLoop::EventLoop()
    : loop_(new uv_loop_t), async_(new uv_async_t), prepare_(new uv_prepare_t), check_(new uv_check_t) {
  // A peer that closes while we write must cost that connection an EPIPE, not the process a
  // SIGPIPE: every program with a loop (servers, tools, tests) wants this, so it is set here once.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  MQ_CHECK(uv_loop_init(loop_) == 0, "uv_loop_init failed");
  MQ_CHECK(uv_async_init(loop_, async_, &EventLoop::on_async) == 0, "uv_async_init failed");
  async_->data = this;
  // Unreferenced: posting needs no handle of its own to keep the loop alive; run() returns once
  // the owners of real handles (listeners, timers, connections) have closed them.
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  loop_->data = this;
  // The two flush points of write batching; unreferenced like the async handle.
  uv_prepare_init(loop_, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_, [](uv_prepare_t* h) {
    if (h->data != nullptr) static_cast<EventLoop*>(h->data)->flush_point();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
  uv_check_init(loop_, check_);
  check_->data = this;
  uv_check_start(check_, [](uv_check_t* h) {
    if (h->data != nullptr) static_cast<EventLoop*>(h->data)->flush_point();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(check_));
  loop_thread_ = std::this_thread::get_id();
}

EventLoop& EventLoop::of(uv_loop_t* loop) { return *static_cast<EventLoop*>(loop->data); }

void EventLoop::flush_point() {
  ++flush_epoch_;
  while (!deferred_.empty()) {
    running_deferred_.swap(deferred_);
    for (auto& fn : running_deferred_) run_guarded("deferred work", fn);
    running_deferred_.clear();
  }
  if (to_flush_.empty()) return;
  flushing_.swap(to_flush_);
  for (auto& weak : flushing_)
    if (auto conn = weak.lock()) run_guarded("a connection flush", [&] { conn->flush_deferred(); });
  flushing_.clear();
}

EventLoop::~EventLoop() {
  if (!closed_) close_and_drain();
  for (PostedTask* t = posted_head_.exchange(nullptr); t != nullptr;) {  // posted too late to run
    PostedTask* next = t->next;
    delete t;
    t = next;
  }
  delete loop_;
}

void EventLoop::run() {
  loop_thread_ = std::this_thread::get_id();
  running_ = true;
  uv_run(loop_, UV_RUN_DEFAULT);
  running_ = false;
  drain_posted();
}

void EventLoop::run_until(const std::function<bool()>& done) {
  loop_thread_ = std::this_thread::get_id();
  while (!done()) {
    if (uv_run(loop_, UV_RUN_ONCE) == 0 && !done()) {
      drain_posted();
      // No active handle is left and nothing is pending: nothing can make progress.
      if (posted_head_.load(std::memory_order_acquire) == nullptr) return;
    }
  }
}

void EventLoop::stop() {
  // Only a run() in progress is stopped. A stop that is drained after run() returned (run() may
  // return on its own when nothing referenced is left, with the stop still queued) would otherwise
  // set libuv's stop flag for the next uv_run, which is close_and_drain's: it returned at once and
  // left every closing handle unclosed ("event loop closed with live handles").
  post([this] {
    if (running_) uv_stop(loop_);
  });
}

void EventLoop::post(std::function<void()> fn) {
  auto* node = new PostedTask{std::move(fn), posted_head_.load(std::memory_order_relaxed)};
  while (!posted_head_.compare_exchange_weak(node->next, node, std::memory_order_release, std::memory_order_relaxed)) {
  }
  // After close_and_drain the task can never run (the destructor frees it): posting to a closed
  // loop is a caller's bug, but must not touch the freed async handle.
  if (!async_closed_.load(std::memory_order_acquire)) uv_async_send(async_);
}

void EventLoop::on_async(uv_async_t* handle) {
  if (handle->data != nullptr) static_cast<EventLoop*>(handle->data)->drain_posted();
}

void EventLoop::drain_posted() {
  // The stack holds the newest task first; reversed, the batch runs in posting order.
  PostedTask* newest = posted_head_.exchange(nullptr, std::memory_order_acquire);
  PostedTask* oldest = nullptr;
  while (newest != nullptr) {
    PostedTask* next = newest->next;
    newest->next = oldest;
    oldest = newest;
    newest = next;
  }
  while (oldest != nullptr) {
    std::unique_ptr<PostedTask> task(oldest);
    oldest = oldest->next;
    run_guarded("a posted task", task->fn);
  }
}

int64_t EventLoop::now_ms() const { return static_cast<int64_t>(uv_now(loop_)); }

int64_t EventLoop::fresh_now_ms() {
  uv_update_time(loop_);
  return static_cast<int64_t>(uv_now(loop_));
}

void EventLoop::close_and_drain() {
  if (closed_) return;
  closed_ = true;
  running_ = false;
  // Work posted or deferred by the callbacks of closing handles (a cancelled connect reporting its
  // failure) still runs; uv_run returns non-zero only when stopped while handles are alive.
  do {
    drain_posted();
    flush_point();
    while (uv_run(loop_, UV_RUN_DEFAULT) != 0) {
    }
  } while (posted_head_.load(std::memory_order_acquire) != nullptr || !deferred_.empty());
  async_closed_.store(true, std::memory_order_release);
  close_and_free(async_);
  async_ = nullptr;
  close_and_free(prepare_);
  prepare_ = nullptr;
  close_and_free(check_);
  check_ = nullptr;
  while (uv_run(loop_, UV_RUN_DEFAULT) != 0) {
  }
  int rc = uv_loop_close(loop_);
  if (rc != 0) {
    uv_print_all_handles(loop_, stderr);
  }
  MQ_CHECK(rc == 0, "event loop closed with live handles (a handle owner leaked)");
}

Timer::Timer(EventLoop& loop) : handle_(new uv_timer_t) {
  uv_timer_init(loop.raw(), handle_);
  handle_->data = this;
}

Timer::~Timer() { close_and_free(handle_); }

void Timer::start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> fn) {
  fn_ = std::move(fn);
  uv_timer_start(handle_, &Timer::on_timer, timeout_ms, repeat_ms);
}

void Timer::stop() { uv_timer_stop(handle_); }

void Timer::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (self != nullptr && self->fn_) {
    // Copy: the callback may restart or destroy this timer.
    auto fn = self->fn_;
    run_guarded("a timer callback", fn);
  }
}

SignalWatcher::SignalWatcher(EventLoop& loop, std::function<void(int)> fn)
    : sigint_(new uv_signal_t), sigterm_(new uv_signal_t), fn_(std::move(fn)) {
  for (auto [h, sig] : {std::pair{sigint_, SIGINT}, std::pair{sigterm_, SIGTERM}}) {
    uv_signal_init(loop.raw(), h);
    h->data = this;
    uv_signal_start(h, &SignalWatcher::on_signal, sig);
  }
}

SignalWatcher::~SignalWatcher() {
  close_and_free(sigint_);
  close_and_free(sigterm_);
}

void SignalWatcher::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<SignalWatcher*>(handle->data);
  if (self != nullptr) run_guarded("a signal callback", [self, signum] { self->fn_(signum); });
}

}  // namespace mq

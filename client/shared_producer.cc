#include "client/shared_producer.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <optional>

#include "base/check.h"

namespace mq {

namespace {

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_one(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// The blocked caller of one send at a time, one per calling thread. A futex word rather than a
// mutex and condition variable: the loop thread wakes the caller with one system call, and only
// when the caller really sleeps; with a condition variable the woken caller often blocks again on
// the mutex the loop thread still holds, a second wake-up per send. The loop's closure holds a
// reference, so the word outlives the wake even if the caller's thread ends right after.
struct Waiter {
  enum : uint32_t { kPending = 0, kDone = 1, kSleeping = 2 };
  std::atomic<uint32_t> state{kPending};
  std::optional<ClientOutcome<SendResult>> out;

  void finish(ClientOutcome<SendResult> r) {
    out.emplace(std::move(r));
    if (state.exchange(kDone, std::memory_order_acq_rel) == kSleeping) futex_wake_one(&state);
  }
  ClientOutcome<SendResult> wait() {
    for (;;) {
      uint32_t s = state.load(std::memory_order_acquire);
      if (s == kDone) break;
      if (s == kPending && !state.compare_exchange_strong(s, kSleeping, std::memory_order_acq_rel)) continue;
      futex_wait(&state, kSleeping);
    }
    state.store(kPending, std::memory_order_relaxed);
    ClientOutcome<SendResult> r = std::move(*out);
    out.reset();
    return r;
  }
};

std::shared_ptr<Waiter> this_thread_waiter() {
  thread_local std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  return waiter;
}

}  // namespace

SharedProducer::SharedProducer(ProducerOptions options, Logger log) {
  std::promise<std::string> started;
  auto id = started.get_future();
  // The Producer is built, started and destroyed on the loop thread, which owns its handles.
  thread_ = std::thread([this, &started, options = std::move(options), log = std::move(log)]() mutable {
    producer_ = std::make_unique<Producer>(loop_, std::move(options), std::move(log));
    producer_->start();
    started.set_value(producer_->client_id());
    loop_.run();  // until the destructor's shutdown stops it
    producer_.reset();
    loop_.close_and_drain();
  });
  client_id_ = id.get();
}

SharedProducer::~SharedProducer() {
  loop_.post([this] { producer_->shutdown([this] { loop_.stop(); }); });
  thread_.join();
}

ClientOutcome<SendResult> SharedProducer::send(Message msg) {
  return send_and_wait([msg = std::move(msg)](Producer& p, SendCallback done) mutable {
    p.send(std::move(msg), std::move(done));
  });
}

ClientOutcome<SendResult> SharedProducer::send_batch(std::vector<Message> msgs) {
  return send_and_wait([msgs = std::move(msgs)](Producer& p, SendCallback done) mutable {
    p.send_batch(std::move(msgs), std::move(done));
  });
}

ClientOutcome<SendResult> SharedProducer::send_and_wait(std::function<void(Producer&, SendCallback)> start) {
  MQ_CHECK(std::this_thread::get_id() != thread_.get_id(), "SharedProducer: a blocking send on its own loop thread");
  std::shared_ptr<Waiter> w = this_thread_waiter();
  loop_.post([this, w, start = std::move(start)]() mutable {
    start(*producer_, [w = std::move(w)](ClientOutcome<SendResult> r) { w->finish(std::move(r)); });
  });
  return w->wait();
}

void SharedProducer::send_async(Message msg, SendCallback cb) {
  loop_.post([this, msg = std::move(msg), cb = std::move(cb)]() mutable {
    producer_->send(std::move(msg), std::move(cb));
  });
}

}  // namespace mq

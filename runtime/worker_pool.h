// The process-wide pool of threads for blocking disk work (fsync, file creation and
// preallocation, cold reads). libuv's own pool is process-global and loop-thread-only in 1.44, so
// we keep our own: its size comes from configuration and does not grow with the number of brokers.
//
// Work is submitted to a Strand: tasks of one strand run one at a time, in submission order (a
// broker's flushes must not overtake each other), while different strands run in parallel. A
// task's completion is posted back to the loop thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/event_loop.h"

namespace mq {

class WorkerPool {
 public:
  class Strand;

  WorkerPool(EventLoop& loop, int threads);
  ~WorkerPool();  // drains queued work, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  std::shared_ptr<Strand> make_strand();
  // Runs `work` on a worker (no ordering), then `done` on the loop thread.
  void submit(std::function<void()> work, std::function<void()> done = nullptr);
  int thread_count() const { return static_cast<int>(threads_.size()); }
  // Blocks until every queued task has run. Loop-thread callers must not wait on `done` callbacks.
  void drain();
  EventLoop& loop() { return loop_; }

 private:
  friend class Strand;
  void enqueue(std::function<void()> task);
  void run_worker();

  EventLoop& loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> queue_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class WorkerPool::Strand : public std::enable_shared_from_this<WorkerPool::Strand> {
 public:
  explicit Strand(WorkerPool& pool) : pool_(pool) {}
  // Runs `work` after every earlier task of this strand, then `done` on the loop thread.
  void submit(std::function<void()> work, std::function<void()> done = nullptr);

 private:
  void run_next();
  WorkerPool& pool_;
  std::mutex mu_;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> tasks_;
  bool running_ = false;
};

}  // namespace mq

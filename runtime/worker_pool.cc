#include "runtime/worker_pool.h"

#include "base/check.h"

namespace mq {

WorkerPool::WorkerPool(EventLoop& loop, int threads) : loop_(loop) {
  MQ_CHECK(threads > 0, "worker pool needs at least one thread");
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run_worker(); });
}

WorkerPool::~WorkerPool() {
  drain();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::shared_ptr<WorkerPool::Strand> WorkerPool::make_strand() { return std::make_shared<Strand>(*this); }

void WorkerPool::submit(std::function<void()> work, std::function<void()> done) {
  enqueue([this, work = std::move(work), done = std::move(done)]() mutable {
    work();
    if (done) loop_.post(std::move(done));
  });
}

void WorkerPool::enqueue(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void WorkerPool::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

void WorkerPool::run_worker() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    task();
    {
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
    }
  }
}

void WorkerPool::Strand::submit(std::function<void()> work, std::function<void()> done) {
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.emplace_back(std::move(work), std::move(done));
  if (!running_) {
    running_ = true;
    pool_.enqueue([self = shared_from_this()] { self->run_next(); });
  }
}

void WorkerPool::Strand::run_next() {
  std::pair<std::function<void()>, std::function<void()>> task;
  {
    std::lock_guard<std::mutex> lock(mu_);
    task = std::move(tasks_.front());
    tasks_.pop_front();
  }
  task.first();
  if (task.second) pool_.loop_.post(std::move(task.second));
  std::lock_guard<std::mutex> lock(mu_);
  if (tasks_.empty()) {
    running_ = false;
  } else {
    pool_.enqueue([self = shared_from_this()] { self->run_next(); });
  }
}

}  // namespace mq

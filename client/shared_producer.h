// A Producer that any number of threads share, each send blocking only its caller: the way Java
// applications (and RocketMQ's own benchmark Producer) use one DefaultMQProducer from many
// threads. The Producer runs on a private loop thread; a send is posted to it and the caller
// sleeps until the answer. Concurrent senders share one connection per broker, so their requests
// leave in one write and their responses arrive in one read, as with the Java client's single
// Netty channel; one Producer per thread would cost a connection and a poll per thread instead.
//
// Threads: send()/send_batch() from any thread except the producer's own loop thread (which would
// wait for itself); send_async() from anywhere, its callback on the loop thread. The destructor
// says goodbye to the brokers (UNREGISTER_CLIENT), then stops and joins the loop thread; sends
// already in flight end first, and none may start once destruction has begun.
#pragma once
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "client/producer.h"

namespace mq {

class SharedProducer {
 public:
  explicit SharedProducer(ProducerOptions options, Logger log = Logger());
  ~SharedProducer();
  SharedProducer(const SharedProducer&) = delete;
  SharedProducer& operator=(const SharedProducer&) = delete;

  ClientOutcome<SendResult> send(Message msg);
  ClientOutcome<SendResult> send_batch(std::vector<Message> msgs);
  void send_async(Message msg, SendCallback cb);

  const std::string& client_id() const { return client_id_; }
  // Connect attempts and failures of the shared producer's connections (any thread).
  RemotingClientStats rpc_stats() const { return producer_->rpc_stats(); }

 private:
  // Posts start(producer, callback) to the loop and blocks until the callback ran.
  ClientOutcome<SendResult> send_and_wait(std::function<void(Producer&, SendCallback)> start);

  EventLoop loop_;
  std::unique_ptr<Producer> producer_;  // touched on the loop thread only after construction
  std::string client_id_;
  std::thread thread_;
};

}  // namespace mq

// What a RequestHandle shares with the Scheduler's step thread: the inbox (new requests,
// shutdown orders, cancellation pokes) and each request's state (its events, its cancel flag, its
// result), each under its own mutex. Internal to the engine.
#ifndef INFER_ENGINE_REQUEST_HANDLE_H_
#define INFER_ENGINE_REQUEST_HANDLE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "infer/scheduler.h"

namespace infer {

// What the Scheduler's thread and other threads share: new requests and shutdown orders.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<struct SequenceSeed>> incoming;
  bool accepting = true;
  bool cancel_all = false;
  bool drain = false;
  std::chrono::steady_clock::time_point drain_deadline;
  bool poke = false;  // a cancel arrived
};

struct RequestHandle::State {
  std::string id;
  std::weak_ptr<Inbox> inbox;
  std::atomic<bool> cancel{false};
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<StreamEvent> events;
  bool finished = false;
  RequestResult result;
};

}  // namespace infer

#endif  // INFER_ENGINE_REQUEST_HANDLE_H_

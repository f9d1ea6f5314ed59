#include "libinfer/engine/request_handle.h"

#include <utility>

namespace infer {

std::optional<StreamEvent> RequestHandle::NextFor(std::chrono::milliseconds timeout,
                                                  bool* timed_out) {
  std::unique_lock<std::mutex> lock(state_->mu);
  const bool ready = state_->cv.wait_for(
      lock, timeout, [&] { return !state_->events.empty() || state_->finished; });
  if (timed_out != nullptr) *timed_out = !ready;
  if (state_->events.empty()) return std::nullopt;
  StreamEvent e = std::move(state_->events.front());
  state_->events.pop_front();
  return e;
}

std::optional<StreamEvent> RequestHandle::Next() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [&] { return !state_->events.empty() || state_->finished; });
  if (state_->events.empty()) return std::nullopt;
  StreamEvent e = std::move(state_->events.front());
  state_->events.pop_front();
  return e;
}

void RequestHandle::Cancel() {
  state_->cancel.store(true);
  if (std::shared_ptr<Inbox> inbox = state_->inbox.lock()) {
    std::lock_guard<std::mutex> lock(inbox->mu);
    inbox->poke = true;
    inbox->cv.notify_all();
  }
}

const RequestResult& RequestHandle::Wait() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->finished; });
  return state_->result;
}

bool RequestHandle::finished() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->finished;
}

const std::string& RequestHandle::id() const { return state_->id; }

}  // namespace infer

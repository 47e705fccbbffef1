#include "engine/engine_reaper.h"

namespace trustformers::engine {

EngineReaper::EngineReaper() : thread_([this] { Run(); }) {}

EngineReaper::~EngineReaper() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->closed = true;
  }
  queue_->changed.notify_all();
  thread_.join();
}

void EngineReaper::Post(Queue& queue, std::function<void()> destroy) {
  {
    std::lock_guard lock(queue.mutex);
    if (!queue.closed) {
      queue.work.push_back(std::move(destroy));
      queue.changed.notify_all();
      return;
    }
  }
  destroy();
}

void EngineReaper::Run() {
  Queue& queue = *queue_;
  std::unique_lock lock(queue.mutex);
  while (true) {
    queue.changed.wait(lock, [&] { return queue.closed || !queue.work.empty(); });
    // Closed: what was queued before still gets deleted here, then the thread ends.
    if (queue.work.empty()) return;
    std::function<void()> destroy = std::move(queue.work.front());
    queue.work.pop_front();
    ++queue.running;
    lock.unlock();
    destroy();  // joins the engine's threads; other engines may be handed over meanwhile
    destroy = nullptr;
    lock.lock();
    --queue.running;
    queue.changed.notify_all();
  }
}

int64_t EngineReaper::pending() const {
  std::lock_guard lock(queue_->mutex);
  return static_cast<int64_t>(queue_->work.size()) + queue_->running;
}

void EngineReaper::Drain() const {
  std::unique_lock lock(queue_->mutex);
  queue_->changed.wait(lock, [&] { return queue_->work.empty() && queue_->running == 0; });
}

}  // namespace trustformers::engine

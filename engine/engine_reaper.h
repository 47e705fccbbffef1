// Frees unloaded engines on a thread of its own. An engine's last reference can go anywhere: on a
// gRPC thread, on a metrics scrape, or on the engine's own worker thread (an Embed callback holds
// the engine and runs on the encoder queue's thread), where its destructor, which joins that very
// thread, must not run. Engines shared through Share() are deleted by this reaper's thread
// instead, so dropping a reference never blocks, never self-joins, and unloading returns at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace trustformers::engine {

class EngineReaper {
 public:
  EngineReaper();
  // Deletes every engine handed over so far, then stops the thread. A reference dropped after
  // this deletes its engine on the dropping thread (which then must not be the engine's own).
  ~EngineReaper();
  EngineReaper(const EngineReaper&) = delete;
  EngineReaper& operator=(const EngineReaper&) = delete;

  // Takes `engine` over: when the last copy of the result goes, the engine is deleted on this
  // reaper's thread (or inline once the reaper is gone).
  template <class T>
  std::shared_ptr<T> Share(std::unique_ptr<T> engine) {
    if (engine == nullptr) return nullptr;
    return std::shared_ptr<T>(engine.release(),
                              [queue = queue_](T* raw) { Post(*queue, [raw] { delete raw; }); });
  }

  // Engines handed over and not yet deleted (tests wait on it).
  int64_t pending() const;
  // Blocks until everything handed over so far has been deleted.
  void Drain() const;

 private:
  struct Queue {
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    std::deque<std::function<void()>> work;  // guarded by mutex
    int64_t running = 0;                     // guarded by mutex: deletions under way
    bool closed = false;                     // guarded by mutex
  };
  // Queues `destroy` for the thread, or runs it here when the reaper is gone.
  static void Post(Queue& queue, std::function<void()> destroy);
  void Run();

  // Shared with every deleter, so a reference that outlives the reaper still finds it.
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::thread thread_;  // last: starts once the queue exists
};

}  // namespace trustformers::engine

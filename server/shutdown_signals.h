// SIGTERM / SIGINT handling for `serve`: the first signal starts a graceful drain, a second one
// ends the process at once (exit status 128 + signal number, as a shell reports it).
//
// Signals are taken synchronously by a watcher thread (sigtimedwait), so the drain runs as
// ordinary code rather than inside an async-signal handler. That requires the signals to be
// blocked in every thread: call BlockShutdownSignals() before any thread is created.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace trustformers::server {

// Blocks SIGTERM and SIGINT in the calling thread; threads created afterwards inherit the mask.
void BlockShutdownSignals();

class ShutdownSignalWatcher {
 public:
  // `on_first_signal(signo)` runs on the watcher thread when the first signal arrives.
  explicit ShutdownSignalWatcher(std::function<void(int)> on_first_signal);
  ~ShutdownSignalWatcher();

  ShutdownSignalWatcher(const ShutdownSignalWatcher&) = delete;
  ShutdownSignalWatcher& operator=(const ShutdownSignalWatcher&) = delete;

 private:
  void Run();

  std::function<void(int)> on_first_signal_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace trustformers::server

#include "server/shutdown_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "spdlog/spdlog.h"

namespace trustformers::server {
namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignalWatcher::ShutdownSignalWatcher(std::function<void(int)> on_first_signal)
    : on_first_signal_(std::move(on_first_signal)), thread_([this] { Run(); }) {}

ShutdownSignalWatcher::~ShutdownSignalWatcher() {
  stop_ = true;
  thread_.join();
}

void ShutdownSignalWatcher::Run() {
  const sigset_t set = ShutdownSet();
  // The timeout only bounds how long the destructor waits for this thread to notice stop_.
  const timespec poll_interval{0, 100'000'000};
  bool draining = false;
  while (!stop_) {
    const int signo = sigtimedwait(&set, nullptr, &poll_interval);
    if (signo < 0) continue;  // EAGAIN (timeout) or EINTR
    if (draining) {
      spdlog::warn("second signal {} during shutdown: exiting now", signo);
      spdlog::default_logger()->flush();
      std::_Exit(128 + signo);
    }
    draining = true;
    spdlog::info("signal {} received: draining (send it again to exit at once)", signo);
    on_first_signal_(signo);
  }
}

}  // namespace trustformers::server

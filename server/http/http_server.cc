#include "server/http/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/error_body.h"
#include "server/http/http_session_impl.h"
#include "spdlog/spdlog.h"

namespace trustformers::server::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

absl::StatusOr<tcp::endpoint> ResolveListenAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "': bad port"));
  }
  boost::system::error_code ec;
  net::ip::address ip = net::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(ip, static_cast<uint16_t>(port));
  net::io_context resolver_context;
  tcp::resolver resolver(resolver_context);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve HTTP listen host '", host, "': ", ec.message()));
  }
  return results.begin()->endpoint();
}

absl::StatusOr<std::unique_ptr<net::ssl::context>> MakeTlsContext(const config::TlsConfig& tls) {
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                           net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                           net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                       ec);
  auto failed = [&](const std::string& what, const std::string& path) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.", what, " '", path, "' cannot be used: ", ec.message()));
  };
  if (context->use_certificate_chain_file(tls.cert_file, ec); ec) {
    return failed("cert_file", tls.cert_file);
  }
  if (context->use_private_key_file(tls.key_file, net::ssl::context::pem, ec); ec) {
    return failed("key_file", tls.key_file);
  }
  if (!tls.client_ca_file.empty()) {
    if (context->load_verify_file(tls.client_ca_file, ec); ec) {
      return failed("client_ca_file", tls.client_ca_file);
    }
    context->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
  }
  return context;
}

}  // namespace

struct HttpServer::State {
  HttpServerOptions options;
  const Router* router = nullptr;
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<net::ssl::context> tls;
  std::shared_ptr<SessionEnvironment> environment;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  int port = 0;
  bool shut_down = false;

  // Shared with each session's end callback, which may run while the server is being destroyed.
  struct Tracker {
    std::mutex mutex;
    uint64_t next_session = 0;                            // guarded by mutex
    std::map<uint64_t, std::weak_ptr<Session>> sessions;  // guarded by mutex
    std::atomic<int64_t> connections{0};
  };
  std::shared_ptr<Tracker> tracker = std::make_shared<Tracker>();

  void Accept() {
    acceptor->async_accept(net::make_strand(io),
                           [this](boost::system::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted || !acceptor->is_open()) {
                               return;
                             }
                             if (!ec) OnAccepted(std::move(socket));
                             Accept();
                           });
  }

  void OnAccepted(tcp::socket socket) {
    if (tracker->connections.load() >= options.http.max_connections || draining.load()) {
      // A fresh socket's send buffer takes this whole, so the write cannot block the thread.
      const std::string body =
          ErrorBodyJson(503, draining.load() ? "the server is shutting down"
                                             : "too many open connections; retry shortly");
      const std::string response = absl::StrCat(
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n",
          "Retry-After: 1\r\nConnection: close\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
      boost::system::error_code ignored;
      net::write(socket, net::buffer(response), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    tracker->connections.fetch_add(1);
    uint64_t id = 0;
    {
      std::lock_guard lock(tracker->mutex);
      id = tracker->next_session++;
    }
    auto on_end = [tracker = tracker, id] {
      std::lock_guard lock(tracker->mutex);
      tracker->sessions.erase(id);
      tracker->connections.fetch_sub(1);
    };
    std::shared_ptr<Session> session =
        tls ? MakeTlsSession(std::move(socket), *tls, environment, std::move(on_end))
            : MakePlainSession(std::move(socket), environment, std::move(on_end));
    {
      std::lock_guard lock(tracker->mutex);
      tracker->sessions[id] = session;
    }
    session->Run();
  }

  std::vector<std::shared_ptr<Session>> LiveSessions() {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(tracker->mutex);
    for (auto& [id, weak] : tracker->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    return live;
  }
};

HttpServer::HttpServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              const Router* router) {
  auto state = std::make_unique<State>();
  state->router = router;
  absl::StatusOr<tcp::endpoint> endpoint = ResolveListenAddress(options.http.address);
  if (!endpoint.ok()) return endpoint.status();
  if (options.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<net::ssl::context>> tls = MakeTlsContext(options.tls);
    if (!tls.ok()) return tls.status();
    state->tls = *std::move(tls);
  }
  state->acceptor.emplace(net::make_strand(state->io));
  boost::system::error_code ec;
  auto fail = [&](const char* step) {
    return absl::UnavailableError(
        absl::StrCat("cannot ", step, " HTTP address ", options.http.address, ": ", ec.message()));
  };
  if (state->acceptor->open(endpoint->protocol(), ec); ec) return fail("open");
  state->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (state->acceptor->bind(*endpoint, ec); ec) return fail("bind");
  if (state->acceptor->listen(net::socket_base::max_listen_connections, ec); ec) {
    return fail("listen on");
  }
  state->port = state->acceptor->local_endpoint(ec).port();

  auto environment = std::make_shared<SessionEnvironment>();
  environment->router = router;
  environment->limits = options.http;
  environment->authorize = options.authorize;
  environment->open_operations = options.open_operations;
  environment->draining = &state->draining;
  environment->record = options.record;
  state->environment = std::move(environment);
  state->options = std::move(options);

  state->work.emplace(net::make_work_guard(state->io));
  State* raw = state.get();
  net::post(state->acceptor->get_executor(), [raw] { raw->Accept(); });
  for (int64_t i = 0; i < state->options.http.io_threads; ++i) {
    state->threads.emplace_back([raw] { raw->io.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

int HttpServer::port() const { return state_->port; }

int64_t HttpServer::open_connections() const { return state_->tracker->connections.load(); }

void HttpServer::SetDraining() { state_->draining.store(true); }

bool HttpServer::draining() const { return state_->draining.load(); }

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  if (state_->shut_down) return;
  state_->shut_down = true;
  state_->draining.store(true);
  State* raw = state_.get();
  net::post(raw->acceptor->get_executor(), [raw] {
    boost::system::error_code ignored;
    raw->acceptor->close(ignored);
  });
  for (auto& session : raw->LiveSessions()) session->CloseIfIdle();

  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + grace;
  auto any_busy = [raw] {
    for (auto& session : raw->LiveSessions()) {
      if (session->Busy()) return true;
    }
    return false;
  };
  while (any_busy() && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& session : raw->LiveSessions()) session->Close();
  // Sessions end once their handlers let go of them, which a cancelled model call does quickly.
  const auto wait_until = Clock::now() + std::chrono::seconds(5);
  while (raw->tracker->connections.load() > 0 && Clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const int64_t open = raw->tracker->connections.load(); open > 0) {
    spdlog::warn("HTTP: {} connection(s) still open at shutdown", open);
  }
  raw->work.reset();
  raw->io.stop();
  for (std::thread& thread : raw->threads) thread.join();
  raw->threads.clear();
  // Runs what the stopped threads left queued, so no handler outlives the sockets it refers to.
  raw->acceptor.reset();
  raw->io.restart();
  raw->io.poll();
}

}  // namespace trustformers::server::http

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/http/error_body.h"
#include "server/http/http_session_impl.h"

namespace trustformers::server::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderLimitBytes = 64 * 1024;
constexpr const char* kServerName = "trustformers";
constexpr double kLingerSeconds = 2.0;
// Largest piece a streamed body is read in (HttpExchange::ReadBody).
constexpr size_t kBodyPieceBytes = 1024 * 1024;

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

void SplitTarget(std::string_view target, HttpRequestView* view) {
  const size_t question = target.find('?');
  view->path = std::string(target.substr(0, question));
  if (question == std::string_view::npos) return;
  const std::string_view query = target.substr(question + 1);
  for (std::string_view pair : SplitNonEmpty(query, '&')) {
    const size_t equals = pair.find('=');
    std::string key, value;
    std::string raw_value(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
    for (char& c : raw_value) {
      if (c == '+') c = ' ';
    }
    if (PercentDecode(pair.substr(0, equals), &key) && PercentDecode(raw_value, &value)) {
      view->query[key] = value;
    }
  }
}

template <class Stream>
class SessionImpl;

template <class Stream>
class Exchange final : public HttpExchange {
 public:
  Exchange(std::shared_ptr<SessionImpl<Stream>> session, uint64_t id, HttpRequestView request)
      : session_(std::move(session)), id_(id), request_(std::move(request)) {}

  const HttpRequestView& request() const override { return request_; }

  void Respond(int status, std::string content_type, std::string body,
               HeaderList headers) override {
    session_->Post([s = session_, id = id_, status, content_type = std::move(content_type),
                    body = std::move(body), headers = std::move(headers)]() mutable {
      s->DoRespond(id, status, std::move(content_type), std::move(body), std::move(headers));
    });
  }
  void StartEvents(HeaderList headers) override {
    session_->Post([s = session_, id = id_, headers = std::move(headers)]() mutable {
      s->DoStartEvents(id, std::move(headers));
    });
  }
  void SendEvent(std::string data) override {
    session_->Post(
        [s = session_, id = id_, data = std::move(data)]() { s->DoSendEvent(id, data); });
  }
  void EndEvents() override {
    session_->Post([s = session_, id = id_]() { s->DoEndEvents(id); });
  }
  void OnClientGone(std::function<void()> on_gone) override {
    session_->Post([s = session_, id = id_, on_gone = std::move(on_gone)]() mutable {
      s->DoOnClientGone(id, std::move(on_gone));
    });
  }
  void ReadBody(std::function<void(absl::StatusOr<BodyPiece>)> on_piece) override {
    session_->Post([s = session_, id = id_, on_piece = std::move(on_piece)]() mutable {
      s->DoReadBody(id, std::move(on_piece));
    });
  }

 private:
  std::shared_ptr<SessionImpl<Stream>> session_;
  uint64_t id_;
  HttpRequestView request_;
};

template <class Stream>
class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  SessionImpl(Stream stream, std::shared_ptr<const SessionEnvironment> environment,
              std::function<void()> on_end)
      : stream_(std::move(stream)),
        env_(std::move(environment)),
        on_end_(std::move(on_end)),
        timer_(stream_.get_executor()) {}

  ~SessionImpl() override {
    if (on_end_) on_end_();
  }

  template <class F>
  void Post(F&& f) {
    net::post(stream_.get_executor(), std::forward<F>(f));
  }

  void Run() override {
    Post([self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->SetDeadline(self->env_->limits.header_timeout_s);
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          self->CancelDeadline();
          if (ec) return self->CloseSocket();
          self->ReadNext(/*first=*/true);
        });
      } else {
        self->ReadNext(/*first=*/true);
      }
    });
  }

  void Close() override {
    Post([self = this->shared_from_this()] {
      self->ClientGone();
      self->CloseSocket();
    });
  }

  void CloseIfIdle() override {
    Post([self = this->shared_from_this()] {
      if (!self->active_) self->CloseSocket();
    });
  }

  bool Busy() const override { return busy_.load(); }

  // --- exchange operations, on the strand ---

  void DoRespond(uint64_t id, int status, std::string content_type, std::string body,
                 HeaderList headers) {
    if (!Current(id) || mode_ != Mode::kNone) return;
    mode_ = Mode::kWhole;
    // Unread body bytes: the connection cannot carry another request.
    if (!body_done_) keep_alive_ = false;
    status_ = status;
    if (gone_) return FinishExchange();
    whole_.emplace(static_cast<bhttp::status>(status), 11);
    whole_->set(bhttp::field::server, kServerName);
    whole_->set(bhttp::field::content_type, content_type);
    for (auto& [name, value] : headers) whole_->set(name, value);
    whole_->body() = std::move(body);
    whole_->keep_alive(keep_alive_);
    whole_->prepare_payload();
    SetDeadline(env_->limits.write_timeout_s);
    bhttp::async_write(stream_, *whole_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->CancelDeadline();
                         self->whole_.reset();
                         if (ec) {
                           self->ClientGone();
                           self->CloseSocket();
                         }
                         self->FinishExchange();
                       });
  }

  void DoStartEvents(uint64_t id, HeaderList headers) {
    if (!Current(id) || mode_ != Mode::kNone) return;
    mode_ = Mode::kEvents;
    if (!body_done_) keep_alive_ = false;
    status_ = 200;
    events_header_.emplace(bhttp::status::ok, 11);
    events_header_->set(bhttp::field::server, kServerName);
    events_header_->set(bhttp::field::content_type, "text/event-stream");
    events_header_->set(bhttp::field::cache_control, "no-cache");
    // Reverse proxies (nginx) would otherwise buffer the stream.
    events_header_->set("X-Accel-Buffering", "no");
    for (auto& [name, value] : headers) events_header_->set(name, value);
    events_header_->keep_alive(keep_alive_);
    events_header_->chunked(true);
    events_serializer_.emplace(*events_header_);
    Pump();
  }

  void DoSendEvent(uint64_t id, const std::string& data) {
    if (!Current(id) || mode_ != Mode::kEvents || events_end_) return;
    absl::StrAppend(&events_pending_, "data: ", data, "\n\n");
    Pump();
  }

  void DoEndEvents(uint64_t id) {
    if (!Current(id) || mode_ != Mode::kEvents) return;
    events_end_ = true;
    Pump();
  }

  // Reads the next piece of a streamed body into piece_ (see HttpExchange::ReadBody).
  void DoReadBody(uint64_t id, std::function<void(absl::StatusOr<BodyPiece>)> on_piece) {
    if (!Current(id) || gone_ || closed_) {
      return on_piece(absl::CancelledError("the client went away"));
    }
    if (!stream_parser_ || body_done_) return on_piece(BodyPiece{"", true});
    if (body_reading_) {
      return on_piece(absl::FailedPreconditionError("a body read is already in flight"));
    }
    body_reading_ = true;
    piece_.resize(kBodyPieceBytes);
    auto& body = stream_parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    body.more = true;
    SetDeadline(env_->limits.body_timeout_s);
    bhttp::async_read(
        stream_, buffer_, *stream_parser_,
        [self = this->shared_from_this(), id, on_piece = std::move(on_piece)](beast::error_code ec,
                                                                              size_t) mutable {
          self->body_reading_ = false;
          self->CancelDeadline();
          if (ec == bhttp::error::need_buffer) ec = {};
          if (!self->Current(id)) {
            // The exchange ended while the read was in flight; a lingering close reads on.
            if (self->lingering_) self->Watch();
            return on_piece(absl::CancelledError("the exchange has ended"));
          }
          if (ec == bhttp::error::body_limit) {
            self->keep_alive_ = false;
            self->DoRespond(
                id, 413, "application/json",
                ErrorBodyJson(413, absl::StrCat("request body is over the limit of ",
                                                self->match_.stream_body_limit, " bytes")),
                {});
            return on_piece(
                absl::OutOfRangeError(absl::StrCat("the request body is over the limit of ",
                                                   self->match_.stream_body_limit, " bytes")));
          }
          if (ec) {
            self->ClientGone();
            self->CloseSocket();
            return on_piece(absl::CancelledError(
                absl::StrCat("reading the request body failed: ", ec.message())));
          }
          const size_t got = self->piece_.size() - self->stream_parser_->get().body().size;
          BodyPiece piece{std::string(self->piece_.data(), got), self->stream_parser_->is_done()};
          if (piece.last) {
            self->body_done_ = true;
            // From now on a hang-up is noticed the usual way.
            if (self->buffer_.size() == 0) self->Watch();
          }
          on_piece(std::move(piece));
        });
  }

  void DoOnClientGone(uint64_t id, std::function<void()> on_gone) {
    if (!Current(id)) return;
    if (gone_) {
      on_gone();
    } else {
      on_gone_ = std::move(on_gone);
    }
  }

 private:
  enum class Mode { kNone, kWhole, kEvents };

  bool Current(uint64_t id) const { return active_ && id == exchange_id_; }

  auto& Socket() { return beast::get_lowest_layer(stream_); }

  void SetDeadline(double seconds) {
    const uint64_t generation = ++deadline_generation_;
    timer_.expires_after(Millis(seconds));
    timer_.async_wait([self = this->shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_) return;
      self->ClientGone();
      self->CloseSocket();
    });
  }

  void CancelDeadline() {
    ++deadline_generation_;
    timer_.cancel();
  }

  void CloseSocket() {
    if (closed_) return;
    closed_ = true;
    CancelDeadline();
    beast::error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  // Ends the connection after the last response: TLS sends its close_notify first.
  void CloseGracefully() {
    if (closed_) return;
    if constexpr (kTls) {
      // A streamed body's read still in flight cannot share the stream with TLS's shutdown.
      if (body_reading_) return CloseSocket();
      SetDeadline(env_->limits.header_timeout_s);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
    } else {
      // Lingering close: a client still sending a refused body would get a reset, and could
      // lose our response, if the socket closed with its bytes unread.
      beast::error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      lingering_ = true;
      SetDeadline(kLingerSeconds);
      Watch();
    }
  }

  void ClientGone() {
    if (!active_ || gone_) return;
    gone_ = true;
    if (on_gone_) {
      std::function<void()> on_gone = std::move(on_gone_);
      on_gone_ = nullptr;
      on_gone();
    }
  }

  // Reads more bytes into buffer_. Between requests this is the wait for the next one; while a
  // request is answered it notices a client that hangs up.
  void Watch() {
    // A streamed body's read owns the socket's read side until it completes.
    if (closed_ || watching_ || body_reading_) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->watching_ = false;
                              if (ec) {
                                self->ClientGone();
                                self->CloseSocket();
                                return;
                              }
                              self->buffer_.commit(n);
                              if (self->lingering_) {
                                self->buffer_.clear();
                                return self->Watch();
                              }
                              // A pipelined request waits in buffer_ until the current response is
                              // out (the current exchange no longer notices a hang-up meanwhile).
                              if (self->active_) return;
                              self->ReadHeader();
                            });
  }

  void ReadNext(bool first) {
    if (closed_) return;
    if (buffer_.size() > 0) return ReadHeader();
    SetDeadline(first ? env_->limits.header_timeout_s : env_->limits.idle_timeout_s);
    Watch();
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(static_cast<uint64_t>(env_->limits.max_body_bytes));
    SetDeadline(env_->limits.header_timeout_s);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Answers before the body is read (refusals); the connection closes unless no body follows.
  void Refuse(int status, std::string_view message, HeaderList headers = {}) {
    keep_alive_ = parser_->is_done() && parser_->get().keep_alive();
    active_ = true;
    busy_ = true;
    ++exchange_id_;
    mode_ = Mode::kNone;
    gone_ = false;
    DoRespond(exchange_id_, status, "application/json", ErrorBodyJson(status, message),
              std::move(headers));
  }

  void OnHeader(beast::error_code ec) {
    CancelDeadline();
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == net::error::eof || closed_) {
        return CloseSocket();
      }
      if (ec == bhttp::error::body_limit) {
        return RefuseUnparsed(413, absl::StrCat("request body is over the limit of ",
                                                env_->limits.max_body_bytes, " bytes"));
      }
      if (ec == bhttp::error::header_limit) {
        return RefuseUnparsed(431, "request headers are larger than 64 KiB");
      }
      return RefuseUnparsed(400, absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    const auto& header = parser_->get();
    started_ = Clock::now();
    request_ = HttpRequestView{};
    request_.method = std::string(header.method_string());
    SplitTarget(std::string_view(header.target().data(), header.target().size()), &request_);
    request_.content_type = std::string(header[bhttp::field::content_type]);
    request_.authorization = std::string(header[bhttp::field::authorization]);
    match_ = env_->router->Match(request_.method, request_.path);

    if (env_->draining != nullptr && env_->draining->load()) {
      return Refuse(503, "the server is shutting down; retry on another instance",
                    {{"Connection", "close"}, {"Retry-After", "1"}});
    }
    if (match_.handler == nullptr) {
      if (!match_.allowed_methods.empty()) {
        std::string allowed = absl::StrJoin(match_.allowed_methods, ", ");
        return Refuse(
            405,
            absl::StrCat(request_.method, " is not allowed on ", request_.path, "; use ", allowed),
            {{"Allow", allowed}});
      }
      return Refuse(404, absl::StrCat("no route for ", request_.method, " ", request_.path));
    }
    const bool needs_key =
        env_->authorize && !(match_.access == RouteAccess::kOperations && env_->open_operations);
    if (needs_key) {
      if (absl::Status status = env_->authorize(request_.authorization); !status.ok()) {
        return Refuse(401, std::string(status.message()), {{"WWW-Authenticate", "Bearer"}});
      }
    }
    if (match_.stream_body_limit > 0) return StartStreamedBody();
    if (const auto length = parser_->content_length();
        length && *length > static_cast<uint64_t>(env_->limits.max_body_bytes)) {
      return Refuse(413, absl::StrCat("request body of ", *length, " bytes is over the limit of ",
                                      env_->limits.max_body_bytes, " bytes"));
    }
    if (parser_->is_done()) return Dispatch();
    if (ExpectsContinue(header)) return ContinueThen(&SessionImpl::ReadBody);
    ReadBody();
  }

  static bool ExpectsContinue(const bhttp::fields& header) {
    const std::string_view expect = header[bhttp::field::expect];
    return absl::EqualsIgnoreCase(absl::string_view(expect.data(), expect.size()), "100-continue");
  }

  // Tells a client waiting on "Expect: 100-continue" to send its body, then goes on with `next`.
  void ContinueThen(void (SessionImpl::*next)()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    SetDeadline(env_->limits.write_timeout_s);
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = this->shared_from_this(), next](beast::error_code write_ec, size_t) {
                       self->CancelDeadline();
                       if (write_ec) return self->CloseSocket();
                       ((*self).*next)();
                     });
  }

  // A streaming route: the handler runs now and reads the body itself (DoReadBody).
  void StartStreamedBody() {
    const uint64_t limit = static_cast<uint64_t>(match_.stream_body_limit);
    if (const auto length = parser_->content_length(); length && *length > limit) {
      return Refuse(413, absl::StrCat("request body of ", *length, " bytes is over the limit of ",
                                      limit, " bytes"));
    }
    const bool expect_continue = ExpectsContinue(parser_->get());
    stream_parser_.emplace(std::move(*parser_));
    parser_.reset();
    stream_parser_->body_limit(limit);
    if (stream_parser_->is_done() || !expect_continue) return DispatchStreamed();
    ContinueThen(&SessionImpl::DispatchStreamed);
  }

  void DispatchStreamed() {
    request_.body.clear();
    request_.path_params = match_.params;
    keep_alive_ = stream_parser_->get().keep_alive();
    active_ = true;
    busy_ = true;
    gone_ = false;
    mode_ = Mode::kNone;
    body_done_ = stream_parser_->is_done();
    const uint64_t id = ++exchange_id_;
    // No hang-up watch while the body is read: the handler's reads notice it.
    if (body_done_ && buffer_.size() == 0) Watch();
    auto exchange = std::make_shared<Exchange<Stream>>(this->shared_from_this(), id, request_);
    (*match_.handler)(std::move(exchange));
  }

  // A request whose header could not be parsed: answer and close.
  void RefuseUnparsed(int status, std::string_view message) {
    keep_alive_ = false;
    active_ = true;
    busy_ = true;
    ++exchange_id_;
    mode_ = Mode::kNone;
    gone_ = false;
    started_ = Clock::now();
    request_ = HttpRequestView{};
    match_ = RouteMatch{};
    DoRespond(exchange_id_, status, "application/json", ErrorBodyJson(status, message), {});
  }

  void ReadBody() {
    SetDeadline(env_->limits.body_timeout_s);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    CancelDeadline();
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        return RefuseUnparsed(413, absl::StrCat("request body is over the limit of ",
                                                env_->limits.max_body_bytes, " bytes"));
      }
      if (closed_) return;
      return RefuseUnparsed(400, absl::StrCat("malformed request body: ", ec.message()));
    }
    Dispatch();
  }

  void Dispatch() {
    body_done_ = true;
    auto& message = parser_->get();
    request_.body = std::move(message.body());
    request_.path_params = match_.params;
    keep_alive_ = message.keep_alive();
    active_ = true;
    busy_ = true;
    gone_ = false;
    mode_ = Mode::kNone;
    const uint64_t id = ++exchange_id_;
    if (buffer_.size() == 0) Watch();
    auto exchange = std::make_shared<Exchange<Stream>>(this->shared_from_this(), id, request_);
    (*match_.handler)(std::move(exchange));
  }

  void Pump() {
    if (closed_ && events_end_) return FinishExchange();  // the client left; the handler is done
    if (writing_ || closed_) return;
    auto self = this->shared_from_this();
    auto written = [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->CancelDeadline();
      if (ec) {
        self->ClientGone();
        self->CloseSocket();
        self->FinishExchange();
        return;
      }
      self->Pump();
    };
    if (!events_header_written_) {
      events_header_written_ = true;
      writing_ = true;
      SetDeadline(env_->limits.write_timeout_s);
      bhttp::async_write_header(stream_, *events_serializer_, written);
    } else if (!events_pending_.empty()) {
      events_in_flight_ = std::move(events_pending_);
      events_pending_.clear();
      writing_ = true;
      SetDeadline(env_->limits.write_timeout_s);
      net::async_write(stream_, bhttp::make_chunk(net::buffer(events_in_flight_)), written);
    } else if (events_end_ && !events_last_written_) {
      events_last_written_ = true;
      writing_ = true;
      SetDeadline(env_->limits.write_timeout_s);
      net::async_write(stream_, bhttp::make_chunk_last(), written);
    } else if (events_last_written_) {
      FinishExchange();
    }
  }

  void FinishExchange() {
    if (!active_) return;
    active_ = false;
    busy_ = false;
    on_gone_ = nullptr;
    events_header_.reset();
    events_serializer_.reset();
    events_pending_.clear();
    events_in_flight_.clear();
    events_header_written_ = events_end_ = events_last_written_ = false;
    if (!body_reading_) stream_parser_.reset();
    if (env_->record) {
      const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
      env_->record(request_.method, match_.pattern, gone_ ? 499 : status_, seconds);
    }
    mode_ = Mode::kNone;
    const bool draining = env_->draining != nullptr && env_->draining->load();
    if (closed_) return;
    if (!keep_alive_ || draining) return CloseGracefully();
    if (watching_) {
      // The watch read now waits for the next request.
      SetDeadline(env_->limits.idle_timeout_s);
      return;
    }
    ReadNext(/*first=*/false);
  }

  Stream stream_;
  std::shared_ptr<const SessionEnvironment> env_;
  std::function<void()> on_end_;
  net::steady_timer timer_;
  uint64_t deadline_generation_ = 0;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // A streaming route's parser, converted from parser_ once the header was read.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  std::vector<char> piece_;    // where a streamed body's next piece is read
  bool body_done_ = true;      // the current request's body has been read in full
  bool body_reading_ = false;  // a streamed body read is in flight
  bool closed_ = false;
  bool watching_ = false;
  bool lingering_ = false;

  // The exchange in progress.
  HttpRequestView request_;
  RouteMatch match_;
  Clock::time_point started_;
  uint64_t exchange_id_ = 0;
  bool active_ = false;
  std::atomic<bool> busy_{false};
  bool gone_ = false;
  bool keep_alive_ = true;
  int status_ = 0;
  Mode mode_ = Mode::kNone;
  std::function<void()> on_gone_;
  std::optional<bhttp::response<bhttp::string_body>> whole_;
  std::optional<bhttp::response<bhttp::empty_body>> events_header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> events_serializer_;
  std::string events_pending_;
  std::string events_in_flight_;
  bool writing_ = false;
  bool events_header_written_ = false;
  bool events_end_ = false;
  bool events_last_written_ = false;
};

}  // namespace

std::shared_ptr<Session> MakePlainSession(tcp::socket socket,
                                          std::shared_ptr<const SessionEnvironment> environment,
                                          std::function<void()> on_end) {
  return std::make_shared<SessionImpl<tcp::socket>>(std::move(socket), std::move(environment),
                                                    std::move(on_end));
}

std::shared_ptr<Session> MakeTlsSession(tcp::socket socket, net::ssl::context& tls,
                                        std::shared_ptr<const SessionEnvironment> environment,
                                        std::function<void()> on_end) {
  using TlsStream = net::ssl::stream<tcp::socket>;
  return std::make_shared<SessionImpl<TlsStream>>(TlsStream(std::move(socket), tls),
                                                  std::move(environment), std::move(on_end));
}

}  // namespace trustformers::server::http

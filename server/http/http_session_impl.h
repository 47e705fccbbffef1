// Creates connection sessions for the two transports the gateway serves: plain TCP and TLS.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>

#include "server/http/http_session.h"

namespace trustformers::server::http {

// `on_end` runs when the session is destroyed (its last operation finished).
std::shared_ptr<Session> MakePlainSession(boost::asio::ip::tcp::socket socket,
                                          std::shared_ptr<const SessionEnvironment> environment,
                                          std::function<void()> on_end);

std::shared_ptr<Session> MakeTlsSession(boost::asio::ip::tcp::socket socket,
                                        boost::asio::ssl::context& tls,
                                        std::shared_ptr<const SessionEnvironment> environment,
                                        std::function<void()> on_end);

}  // namespace trustformers::server::http

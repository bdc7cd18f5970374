// The HTTP front of `edgerun serve`: OpenAI-compatible routes on cpp-httplib. Handlers parse and
// validate, hand jobs to the scheduler and write the replies (whole JSON or Server-Sent Events).
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/served_model.h"

namespace httplib {
class Server;
}

namespace edgerun::server {

// Binds `server` to host:port (port 0 = any free port); returns the port, or throws Error naming
// --host / --port.
int bind_http(httplib::Server& server, const std::string& host, int port);

class HttpServer {
 public:
  // `http_threads`: connections served at once (streams waiting on slots included).
  HttpServer(const ServedModel& model, Scheduler& scheduler, Metrics& metrics, int http_threads);
  ~HttpServer();

  // Binds to host:port (port 0 = any free port); returns the port, or throws Error.
  int bind(const std::string& host, int port);
  void listen();  // serves until stop()
  void stop();    // safe from any thread

 private:
  void add_routes();
  struct Routes;
  const ServedModel& model_;
  Scheduler& scheduler_;
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<uint64_t> reply_count_{0};  // for reply ids
};

}  // namespace edgerun::server

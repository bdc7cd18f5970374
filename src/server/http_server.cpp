#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>

#include "core/error.h"
#include "server/connection_watch.h"
#include "server/response.h"

namespace edgerun::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }


void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_json(e)); }

// The state of one request while its tokens arrive.
struct Exchange {
  ReplyHeader header;
  PreparedJob prepared;
  std::shared_ptr<JobStream> stream;
  ReplyAssembler assembler;
  Clock::time_point started = Clock::now();
  std::string endpoint;
  std::string reasoning, content;  // everything so far (non-streaming, tool parsing)
  ToolCallStreamer tools;          // streamed replies that may call tools
  bool role_sent = false;

  Exchange(const ServedModel& model, PreparedJob p, std::string id, std::string endpoint_name)
      : header{std::move(id), unix_seconds(), model.name()}, prepared(std::move(p)),
        assembler(model.tokenizer(), prepared), endpoint(std::move(endpoint_name)),
        tools(prepared.format.tool_calls) {}

  // Pulls what the worker produced (waiting up to wait_ms). False once the job is over.
  bool pull(TextDelta& delta, int wait_ms) {
    std::vector<int32_t> tokens;
    const bool more = stream->take(tokens, wait_ms);
    delta = assembler.push(tokens);
    if (assembler.stop_seen()) stream->cancel();
    if (!more) {
      const TextDelta tail = assembler.finish();
      delta.reasoning += tail.reasoning;
      delta.content += tail.content;
    }
    reasoning += delta.reasoning;
    content += delta.content;
    return more;
  }

  Usage usage() const {
    return {int64_t(prepared.job.prompt.size()), assembler.completion_tokens(), stream->cached_prompt_tokens()};
  }

  std::string finish_reason(const std::vector<ToolCall>& calls) const {
    if (!calls.empty()) return "tool_calls";
    return openai_finish_reason(stream->finish_reason(), assembler.stop_seen());
  }

  // The final content and tool calls, once the text is complete.
  ParsedContent parsed() const {
    if (prepared.forced_tool_call) {
      ParsedContent out;
      ToolCall call;
      const nlohmann::json j = nlohmann::json::parse(assembler.text(), nullptr, false);
      if (!j.is_discarded() && tool_call_from_json(j, call)) {
        call.id = "call_" + header.id + "_0";
        out.tool_calls.push_back(call);
      } else {
        out.content = content;  // cut short (max_tokens): hand back what there is
      }
      return out;
    }
    if (prepared.parse_tools) return parse_tool_calls(content, "call_" + header.id + "_", prepared.format.tool_calls);
    return {content, {}};
  }
};

}  // namespace

struct HttpServer::Routes {
  HttpServer& s;

  void record(const std::string& endpoint, int status, Clock::time_point t0) {
    s.metrics_.record_request(endpoint, status, seconds_since(t0));
  }

  std::shared_ptr<Exchange> start(PreparedJob prepared, const char* id_prefix, const std::string& endpoint) {
    // Unique per server run; only needs to tell replies apart.
    std::string id = id_prefix + std::to_string(unix_seconds()) + "-" + std::to_string(++s.reply_count_);
    auto ex = std::make_shared<Exchange>(s.model_, std::move(prepared), std::move(id), endpoint);
    ex->stream = s.scheduler_.submit(ex->prepared.job);
    return ex;
  }

  // Waits for the whole reply; an engine failure is a 500. False when the client went away
  // meanwhile: generation was stopped and there is nobody to answer.
  bool wait_all(Exchange& ex, const httplib::Request& req) {
    const auto watch = ConnectionWatch::find(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    TextDelta delta;
    while (ex.pull(delta, 100)) {
      if (watch && !ex.stream->cancelled() && watch->peer_closed()) ex.stream->cancel();
    }
    if (ex.stream->finish_reason() == "cancelled" && !ex.assembler.stop_seen()) {
      record(ex.endpoint, 499, ex.started);
      return false;
    }
    if (ex.stream->finish_reason() == "error")
      throw ApiError(500, "generation failed: " + ex.stream->error(), "", "server_error");
    return true;
  }

  void chat(const httplib::Request& req, httplib::Response& res) {
    const ChatRequest request = parse_chat_request(req.body);
    auto ex = start(s.model_.prepare_chat(request, s.scheduler_.context()), "chatcmpl-", req.path);
    if (request.params.stream) return stream_chat(ex, request.params.include_usage, res);
    if (!wait_all(*ex, req)) return;
    const ParsedContent parsed = ex->parsed();
    const ojson message = assistant_message(parsed.content, ex->reasoning, parsed.tool_calls);
    send_json(res, 200, chat_completion(ex->header, message, ex->finish_reason(parsed.tool_calls), ex->usage()));
    record(req.path, 200, ex->started);
  }

  void stream_chat(std::shared_ptr<Exchange> ex, bool include_usage, httplib::Response& res) {
    // A forced call's text is the call itself, sent as tool_calls at the end; with optional
    // tools, the answer streams until a <tool_call> tag begins.
    const bool hold_content = ex->prepared.forced_tool_call;
    const bool parse_tools = ex->prepared.parse_tools;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ex, include_usage, hold_content, parse_tools](size_t, httplib::DataSink& sink) {
          const auto send = [&](const ojson& delta, const std::string& finish) {
            const std::string event = sse_event(chat_chunk(ex->header, delta, finish));
            return sink.write(event.data(), event.size());
          };
          if (!ex->role_sent) {
            ex->role_sent = true;
            return send({{"role", "assistant"}, {"content", ""}}, "");
          }
          TextDelta delta;
          const bool more = ex->pull(delta, 100);
          if (!sink.is_writable()) return false;  // client gone: the releaser cancels
          if (!delta.reasoning.empty() && !send({{"reasoning_content", delta.reasoning}}, "")) return false;
          const std::string content = hold_content ? "" : parse_tools ? ex->tools.push(delta.content) : delta.content;
          if (!content.empty() && !send({{"content", content}}, "")) return false;
          if (more) return true;
          if (ex->stream->finish_reason() == "error") {
            const std::string event = sse_event(error_json(ApiError(500, "generation failed: " + ex->stream->error(), "", "server_error")));
            sink.write(event.data(), event.size());
            sink.done();
            return true;
          }
          const ParsedContent parsed = hold_content  ? ex->parsed()
                                       : parse_tools ? ex->tools.finish("call_" + ex->header.id + "_")
                                                     : ParsedContent{};
          if (!parsed.content.empty() && !send({{"content", parsed.content}}, "")) return false;
          if (!parsed.tool_calls.empty() && !send({{"tool_calls", tool_calls_json(parsed.tool_calls, true)}}, ""))
            return false;
          if (!send(ojson::object(), ex->finish_reason(parsed.tool_calls))) return false;
          if (include_usage) {
            ojson last = chat_chunk(ex->header, ojson::object(), "");
            last["choices"] = ojson::array();
            last["usage"] = usage_json(ex->usage());
            const std::string event = sse_event(last);
            if (!sink.write(event.data(), event.size())) return false;
          }
          const std::string done = sse_done();
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        },
        [this, ex](bool success) {
          ex->stream->cancel();  // no-op when it ended; stops generation when the client left
          record(ex->endpoint, success ? 200 : 499, ex->started);
        });
  }

  void completion(const httplib::Request& req, httplib::Response& res) {
    const CompletionRequest request = parse_completion_request(req.body);
    auto ex = start(s.model_.prepare_completion(request, s.scheduler_.context()), "cmpl-", req.path);
    const std::string echo = request.echo ? request.prompt : "";
    if (!request.params.stream) {
      if (!wait_all(*ex, req)) return;
      send_json(res, 200, text_completion(ex->header, echo + ex->content, ex->finish_reason({}), ex->usage()));
      record(req.path, 200, ex->started);
      return;
    }
    res.set_chunked_content_provider(
        "text/event-stream",
        [ex, echo, sent_echo = false](size_t, httplib::DataSink& sink) mutable {
          const auto send = [&](const std::string& text, const std::string& finish) {
            const std::string event = sse_event(text_completion(ex->header, text, finish, std::nullopt));
            return sink.write(event.data(), event.size());
          };
          if (!sent_echo) {
            sent_echo = true;
            if (!echo.empty()) return send(echo, "");
          }
          TextDelta delta;
          const bool more = ex->pull(delta, 100);
          if (!sink.is_writable()) return false;
          if (!delta.content.empty() && !send(delta.content, "")) return false;
          if (more) return true;
          if (!send("", ex->finish_reason({}))) return false;
          const std::string done = sse_done();
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        },
        [this, ex](bool success) {
          ex->stream->cancel();
          record(ex->endpoint, success ? 200 : 499, ex->started);
        });
  }

  void models(const httplib::Request& req, httplib::Response& res) {
    send_json(res, 200,
              {{"object", "list"},
               {"data", {{{"id", s.model_.name()}, {"object", "model"}, {"created", 0}, {"owned_by", "edgerun"},
                          {"meta", {{"n_ctx", s.scheduler_.context()}, {"n_vocab", s.model_.loaded().config.vocab_size}}}}}}});
    record(req.path, 200, Clock::now());
  }
};

HttpServer::HttpServer(const ServedModel& model, Scheduler& scheduler, Metrics& metrics, int http_threads)
    : model_(model), scheduler_(scheduler), metrics_(metrics), http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(std::max(http_threads, 2))); };
  add_routes();
}

HttpServer::~HttpServer() = default;

void HttpServer::add_routes() {
  auto routes = std::make_shared<Routes>(Routes{*this});
  // Every handler: errors become OpenAI error JSON, counted in the metrics.
  const auto guarded = [this, routes](void (Routes::*handler)(const httplib::Request&, httplib::Response&)) {
    return [this, routes, handler](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      try {
        ((*routes).*handler)(req, res);
        return;
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        send_error(res, ApiError(400, e.what()));
      } catch (const std::bad_alloc&) {
        send_error(res, ApiError(500, "out of memory", "", "server_error"));
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, e.what(), "", "server_error"));
      }
      metrics_.record_request(req.path, res.status, seconds_since(t0));
    };
  };
  const auto method_not_allowed = [this](const char* allowed) {
    return [this, allowed](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allowed);
      send_error(res, ApiError(405, req.method + " is not allowed on " + req.path + " (use " + allowed + ")", "",
                               "invalid_request_error", "method_not_allowed"));
      metrics_.record_request(req.path, 405, 0);
    };
  };
  for (const char* path : {"/v1/chat/completions", "/chat/completions"}) {
    http_->Post(path, guarded(&Routes::chat));
    http_->Get(path, method_not_allowed("POST"));
  }
  for (const char* path : {"/v1/completions", "/completions"}) {
    http_->Post(path, guarded(&Routes::completion));
    http_->Get(path, method_not_allowed("POST"));
  }
  http_->Get("/v1/models", guarded(&Routes::models));
  http_->Post("/v1/models", method_not_allowed("GET"));
  http_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(scheduler_.slots()), "text/plain; version=0.0.4");
  });
  http_->Post("/health", method_not_allowed("GET"));
  http_->Post("/metrics", method_not_allowed("GET"));
  // Unknown routes (and anything else that failed without a body) answer in the API's format.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(res, ApiError(404, "no route " + req.method + " " + req.path, "", "invalid_request_error", "not_found"));
      metrics_.record_request("unknown", 404, 0);
    } else {
      send_error(res, ApiError(res.status, "HTTP error " + std::to_string(res.status)));
    }
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "", "server_error"));
  });
}

int bind_http(httplib::Server& server, const std::string& host, int port) {
  if (port == 0) {
    const int bound = server.bind_to_any_port(host);
    if (bound < 0) fail("--host", "cannot listen on " + host);
    return bound;
  }
  if (!server.bind_to_port(host, port)) fail("--port", "cannot listen on " + host + ":" + std::to_string(port));
  return port;
}

int HttpServer::bind(const std::string& host, int port) { return bind_http(*http_, host, port); }

void HttpServer::listen() { http_->listen_after_bind(); }
void HttpServer::stop() { http_->stop(); }

}  // namespace edgerun::server

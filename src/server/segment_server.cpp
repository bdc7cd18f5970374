#include "server/segment_server.h"

#include <httplib.h>

#include "core/error.h"
#include "server/http_server.h"
#include "server/response.h"

namespace edgerun::server {

namespace {

void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// Images arrive base64-encoded in JSON (a third larger) or as multipart uploads.
constexpr size_t kMaxRequestBytes = size_t(96) << 20;

}  // namespace

SegmentHttpServer::SegmentHttpServer(SegmentService& service, std::string model_name, std::string description, int http_threads)
    : service_(service), name_(std::move(model_name)), description_(std::move(description)), http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(std::max(http_threads, 2))); };
  http_->set_payload_max_length(kMaxRequestBytes);
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kSegmentPage, "text/html; charset=utf-8"); });
  http_->Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"object", "list"}, {"data", {{{"id", name_}, {"object", "model"}, {"owned_by", "edgerun"},
                                                          {"meta", {{"task", "segmentation"}, {"architecture", description_}}}}}}});
  });
  http_->Post("/v1/segment", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      if (req.is_multipart_form_data()) {
        if (!req.has_file("image")) bad_request("image", "the multipart request has no 'image' part");
        ojson prompt = ojson::object();
        if (req.has_file("prompt")) {
          prompt = ojson::parse(req.get_file_value("prompt").content, nullptr, false);
          if (prompt.is_discarded() || !prompt.is_object()) bad_request("prompt", "must be a JSON object");
        }
        const std::string bytes = req.get_file_value("image").content;
        return send_json(res, 200, service_.segment(prompt, &bytes));
      }
      const ojson body = ojson::parse(req.body, nullptr, false);
      if (body.is_discarded()) bad_request("", "the request body is not valid JSON");
      send_json(res, 200, service_.segment(body, nullptr));
    } catch (const ApiError& e) {
      send_json(res, e.status, error_json(e));
    } catch (const Error& e) {
      send_json(res, 400, error_json(ApiError(400, e.what())));
    } catch (const std::bad_alloc&) {
      send_json(res, 500, error_json(ApiError(500, "out of memory", "", "server_error")));
    }
  });
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string what = res.status == 404 ? "no route " + req.method + " " + req.path
                           : res.status == 413 ? "the request is too large"
                                               : "HTTP error " + std::to_string(res.status);
    send_json(res, res.status, error_json(ApiError(res.status, what)));
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_json(res, 500, error_json(ApiError(500, "internal error", "", "server_error")));
  });
}

SegmentHttpServer::~SegmentHttpServer() = default;

int SegmentHttpServer::bind(const std::string& host, int port) { return bind_http(*http_, host, port); }

void SegmentHttpServer::listen() { http_->listen_after_bind(); }
void SegmentHttpServer::stop() { http_->stop(); }

}  // namespace edgerun::server

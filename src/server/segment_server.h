// The HTTP front of `edgerun serve` for a SAM model: the web page at /, POST /v1/segment (JSON
// with a base64 image, or multipart with an "image" file and a "prompt" JSON field), /health and
// /v1/models. Errors are the API's JSON error objects with a 4xx status.
#pragma once
#include <memory>
#include <string>

#include "server/segment_service.h"

namespace httplib {
class Server;
}

namespace edgerun::server {

class SegmentHttpServer {
 public:
  SegmentHttpServer(SegmentService& service, std::string model_name, std::string description, int http_threads);
  ~SegmentHttpServer();
  int bind(const std::string& host, int port);  // port 0 = any free port; returns it
  void listen();
  void stop();

 private:
  SegmentService& service_;
  std::string name_, description_;
  std::unique_ptr<httplib::Server> http_;
};

// The page a person uses: load an image, click foreground (click) / background (shift-click or
// right-click) points or drag a box, and see the mask drawn over the image.
extern const char* const kSegmentPage;

}  // namespace edgerun::server

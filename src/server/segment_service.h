// The segmentation side of `edgerun serve` with a SAM model: POST /v1/segment and the web page.
// Images are encoded once and their embeddings kept (a few, least recently used first out), so
// further prompts on the same image only run the prompt decoder. An image is named by a hash of
// its bytes, which replies return as "image_id" and requests may send instead of the image.
#pragma once
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/sam_predictor.h"

namespace edgerun::server {

// COCO's uncompressed run-length encoding of a mask [height, width]: runs over the column-major
// pixels, starting with a (possibly empty) run of zeros.
std::vector<int64_t> mask_rle(const uint8_t* mask, int64_t height, int64_t width);

class SegmentService {
 public:
  SegmentService(const SamModel& model, ThreadPool& pool, size_t cached_images = 4);

  // `body`: JSON {"image" (base64 or a data: URL) | "image_id", "points", "labels", "box",
  // "multimask"}; or, for multipart requests, the decoded image bytes plus the prompt fields.
  // Returns the reply JSON; throws ApiError (4xx) for bad requests.
  nlohmann::ordered_json segment(const nlohmann::ordered_json& request, const std::string* image_bytes);

 private:
  struct Cached {
    std::string id;
    ImageU8 image;  // kept for the geometry (and nothing is re-decoded)
    std::vector<float> embedding;
    SamPromptDecoder::ImageSide image_side;  // computed with the embedding, reused by every prompt
    SamImageGeometry geometry;
  };
  const Cached& image_for(const nlohmann::ordered_json& request, const std::string* image_bytes, bool& was_cached,
                          double& encode_ms);

  const SamModel& model_;
  ThreadPool& pool_;
  size_t capacity_;
  std::mutex mutex_;          // one computation at a time: the pool is not reentrant
  std::list<Cached> cache_;   // most recently used first
};

}  // namespace edgerun::server

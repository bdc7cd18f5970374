#include "server/segment_service.h"

#include <cstdio>

#include "core/error.h"
#include "core/hash.h"
#include "formats/base64.h"
#include "server/api_error.h"
#include "server/media_input.h"

namespace edgerun::server {

namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// A name for an image's bytes (FNV-1a, 64 bits, with the length).
std::string image_id_of(const std::string& bytes) {
  const uint64_t h = fnv1a64(bytes.data(), bytes.size());
  char buf[48];
  std::snprintf(buf, sizeof buf, "img-%016llx-%zx", (unsigned long long)h, bytes.size());
  return buf;
}

float number(const ojson& v, const std::string& param) {
  if (!v.is_number()) bad_request(param, "must be a number");
  return v.get<float>();
}

SamPrompt prompt_of(const ojson& r, const ImageU8& image) {
  SamPrompt p;
  if (r.contains("points") && !r["points"].is_null()) {
    const ojson& pts = r["points"];
    if (!pts.is_array()) bad_request("points", "must be an array of [x, y]");
    const ojson labels = r.value("labels", ojson::array());
    if (!labels.is_array()) bad_request("labels", "must be an array of 1 (foreground) / 0 (background)");
    for (size_t i = 0; i < pts.size(); ++i) {
      const std::string at = "points[" + std::to_string(i) + "]";
      if (!pts[i].is_array() || pts[i].size() != 2) bad_request(at, "must be [x, y]");
      const float x = number(pts[i][0], at), y = number(pts[i][1], at);
      if (!(x >= 0 && y >= 0 && x < float(image.width) && y < float(image.height)))
        bad_request(at, "is outside the " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
      int label = 1;
      if (i < labels.size()) {
        if (!labels[i].is_number_integer() || (labels[i] != 0 && labels[i] != 1))
          bad_request("labels[" + std::to_string(i) + "]", "must be 1 (foreground) or 0 (background)");
        label = labels[i].get<int>();
      }
      p.points.push_back({x, y});
      p.labels.push_back(label);
    }
  }
  if (r.contains("box") && !r["box"].is_null()) {
    const ojson& b = r["box"];
    if (!b.is_array() || b.size() != 4) bad_request("box", "must be [x0, y0, x1, y1]");
    std::array<float, 4> box{};
    for (size_t i = 0; i < 4; ++i) box[i] = number(b[i], "box");
    if (box[2] < box[0] || box[3] < box[1]) bad_request("box", "x1, y1 must not be left of or above x0, y0");
    if (box[0] < 0 || box[1] < 0 || box[2] > float(image.width) || box[3] > float(image.height))
      bad_request("box", "is outside the image");
    p.box = box;
  }
  if (p.points.empty() && !p.box) bad_request("points", "give at least one point or a box");
  if (r.contains("multimask")) {
    if (!r["multimask"].is_boolean()) bad_request("multimask", "must be a boolean");
    p.multimask = r["multimask"].get<bool>();
  } else {
    p.multimask = false;
  }
  return p;
}

}  // namespace

std::vector<int64_t> mask_rle(const uint8_t* mask, int64_t height, int64_t width) {
  std::vector<int64_t> counts;
  uint8_t current = 0;
  int64_t run = 0;
  for (int64_t x = 0; x < width; ++x)
    for (int64_t y = 0; y < height; ++y) {
      const uint8_t v = mask[y * width + x] ? 1 : 0;
      if (v != current) {
        counts.push_back(run);
        run = 0;
        current = v;
      }
      ++run;
    }
  counts.push_back(run);
  return counts;
}

SegmentService::SegmentService(const SamModel& model, ThreadPool& pool, size_t cached_images)
    : model_(model), pool_(pool), capacity_(std::max<size_t>(1, cached_images)) {}

const SegmentService::Cached& SegmentService::image_for(const ojson& r, const std::string* image_bytes, bool& was_cached,
                                                        double& encode_ms) {
  std::string decoded;
  const std::string* bytes = image_bytes;
  std::string id;
  if (!bytes && r.contains("image") && !r["image"].is_null()) {
    if (!r["image"].is_string()) bad_request("image", "must be base64 text or a data: URL");
    decoded = decode_base64_payload(r["image"].get_ref<const std::string&>(), "image");
    bytes = &decoded;
  }
  if (bytes) {
    id = image_id_of(*bytes);
  } else {
    if (!r.contains("image_id") || !r["image_id"].is_string()) bad_request("image", "send an image (or the image_id of one sent before)");
    id = r["image_id"].get<std::string>();
  }
  for (auto it = cache_.begin(); it != cache_.end(); ++it)
    if (it->id == id) {
      cache_.splice(cache_.begin(), cache_, it);  // most recently used
      was_cached = true;
      return cache_.front();
    }
  if (!bytes) throw ApiError(404, "image_id '" + id + "' is not (or no longer) cached: send the image again", "image_id",
                             "invalid_request_error", "image_not_found");
  Cached c;
  c.id = id;
  try {
    c.image = decode_image(std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()), "image");
  } catch (const Error& e) {
    bad_request("image", e.what());
  }
  const auto t0 = Clock::now();
  c.embedding = sam_encode_image(model_, c.image, c.geometry, pool_);
  c.image_side = model_.decoder->prepare(c.embedding.data(), pool_);
  encode_ms = ms_since(t0);
  was_cached = false;
  cache_.push_front(std::move(c));
  if (cache_.size() > capacity_) cache_.pop_back();
  return cache_.front();
}

ojson SegmentService::segment(const ojson& r, const std::string* image_bytes) {
  if (!r.is_object()) bad_request("", "the request must be a JSON object");
  std::lock_guard<std::mutex> lock(mutex_);
  bool cached = false;
  double encode_ms = 0;
  const Cached& img = image_for(r, image_bytes, cached, encode_ms);
  const SamPrompt prompt = prompt_of(r, img.image);
  const auto t0 = Clock::now();
  const SamPrediction p = model_.decoder->predict(img.embedding.data(), img.geometry, prompt, pool_, &img.image_side);
  const double decode_ms = ms_since(t0);
  int64_t best = 0;
  for (int64_t k = 1; k < p.count; ++k)
    if (p.iou[size_t(k)] > p.iou[size_t(best)]) best = k;
  ojson masks = ojson::array();
  const int64_t plane = p.width * p.height;
  for (int64_t k = 0; k < p.count; ++k) {
    const uint8_t* m = p.masks.data() + k * plane;
    ImageU8 png{int(p.width), int(p.height), 1, {}};
    png.pixels.resize(size_t(plane));
    int64_t area = 0;
    for (int64_t i = 0; i < plane; ++i) {
      png.pixels[size_t(i)] = m[i] ? 255 : 0;
      area += m[i];
    }
    const std::vector<uint8_t> encoded = encode_png(png);
    masks.push_back({{"score", p.iou[size_t(k)]},
                     {"area", area},
                     {"png", base64_encode(encoded.data(), encoded.size())},
                     {"rle", {{"size", {p.height, p.width}}, {"counts", mask_rle(m, p.height, p.width)}}}});
  }
  return {{"object", "segmentation"}, {"image_id", img.id}, {"width", p.width}, {"height", p.height},
          {"cached", cached}, {"best", best}, {"masks", masks},
          {"timings", {{"encode_ms", encode_ms}, {"decode_ms", decode_ms}}}};
}

}  // namespace edgerun::server

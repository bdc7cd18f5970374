#include "models/idefics3_processor.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "formats/json_file.h"

namespace edgerun {

namespace {

constexpr int64_t kMaxResizedEdge = 4096;  // transformers' MAX_IMAGE_SIZE

ResampleFilter pil_filter(int64_t id, const std::string& where) {
  switch (id) {
    case 1: return ResampleFilter::kLanczos;
    case 2: return ResampleFilter::kBilinear;
    case 3: return ResampleFilter::kBicubic;
    default: fail(where, "resample " + std::to_string(id) + " is not supported (1 = LANCZOS, 2 = BILINEAR, 3 = BICUBIC)");
  }
}

int64_t longest_edge_of(const json& c, const char* key, int64_t fallback, const std::string& file) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  const json& s = c[key];
  if (!s.is_object()) fail(file + ": field '" + key + "'", "expected an object with longest_edge");
  const int64_t v = json_int(s, "longest_edge", file + ": field '" + key + "'");
  if (v <= 0 || v > kMaxResizedEdge) fail(file + ": field '" + key + ".longest_edge'", "must be in 1..4096");
  return v;
}

// uint8 RGB → normalised CHW floats, as the processor computes them (u8 / 255 in float32 gives
// the same bits as its float64 rescale followed by the cast).
void normalise_into(const ImageU8& img, const Idefics3ProcessorConfig& cfg, float* out) {
  const size_t plane = size_t(img.width) * size_t(img.height);
  const float rescale = float(cfg.rescale_factor);
  const bool exact = std::abs(cfg.rescale_factor - 1.0 / 255.0) < 1e-12;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < plane; ++i) {
      const float v = exact ? float(img.pixels[i * 3 + size_t(c)]) / 255.0f : float(img.pixels[i * 3 + size_t(c)]) * rescale;
      out[size_t(c) * plane + i] = (v - cfg.mean[c]) / cfg.std[c];
    }
}

ImageU8 square_to_tile(const ImageU8& img, const Idefics3ProcessorConfig& cfg) {
  const int M = int(cfg.tile_size);
  return img.width == M && img.height == M ? img : resize_pil(img, M, M, cfg.resample);
}

}  // namespace

Idefics3ProcessorConfig idefics3_processor_config(const std::string& dir, int64_t vision_image_size, int64_t tokens_per_tile) {
  Idefics3ProcessorConfig cfg;
  cfg.tile_size = vision_image_size;
  cfg.image_seq_len = tokens_per_tile;
  const std::string pre = dir + "/preprocessor_config.json";
  if (std::filesystem::exists(pre)) {
    const json c = read_json_file(pre);
    if (!c.is_object()) fail(pre, "expected a JSON object");
    cfg.do_resize = json_bool_or(c, "do_resize", true, pre);
    cfg.do_image_splitting = json_bool_or(c, "do_image_splitting", true, pre);
    cfg.longest_edge = longest_edge_of(c, "size", cfg.longest_edge, pre);
    cfg.tile_size = longest_edge_of(c, "max_image_size", cfg.tile_size, pre);
    cfg.resample = pil_filter(json_int_or(c, "resample", 1, pre), pre + ": field 'resample'");
    cfg.rescale_factor = json_number_or(c, "rescale_factor", cfg.rescale_factor, pre);
    for (const char* key : {"image_mean", "image_std"}) {
      if (!c.contains(key)) continue;
      const json& v = c[key];
      if (!v.is_array() || v.size() != 3)
        fail(pre + ": field '" + key + "'", "expected a list of 3 numbers");
      for (int i = 0; i < 3; ++i) {
        if (!v[size_t(i)].is_number()) fail(pre + ": field '" + key + "'", "expected numbers");
        (std::string(key) == "image_mean" ? cfg.mean : cfg.std)[i] = v[size_t(i)].get<float>();
      }
    }
    for (float s : cfg.std)
      if (!(s > 0)) fail(pre + ": field 'image_std'", "must be positive");
    if (c.contains("video_sampling") && c["video_sampling"].is_object()) {
      const json& vs = c["video_sampling"];
      const std::string where = pre + ": field 'video_sampling'";
      cfg.video_fps = json_number_or(vs, "fps", cfg.video_fps, where);
      cfg.video_max_frames = json_int_or(vs, "max_frames", cfg.video_max_frames, where);
      cfg.video_longest_edge = longest_edge_of(vs, "video_size", cfg.video_longest_edge, where);
      if (!(cfg.video_fps > 0) || cfg.video_max_frames <= 0) fail(where, "fps and max_frames must be positive");
    }
  }
  const std::string proc = dir + "/processor_config.json";
  if (std::filesystem::exists(proc)) {
    const json c = read_json_file(proc);
    if (!c.is_object()) fail(proc, "expected a JSON object");
    cfg.image_seq_len = json_int_or(c, "image_seq_len", cfg.image_seq_len, proc);
  }
  if (cfg.tile_size != vision_image_size)
    fail(pre, "max_image_size.longest_edge " + std::to_string(cfg.tile_size) + " differs from the vision tower's image_size " +
                  std::to_string(vision_image_size));
  if (cfg.image_seq_len != tokens_per_tile)
    fail(proc, "image_seq_len " + std::to_string(cfg.image_seq_len) + " differs from the " + std::to_string(tokens_per_tile) +
                   " tokens the connector makes per tile");
  return cfg;
}

// _resize_output_size_rescale_to_max_len, then _resize_output_size_scale_below_upper_bound.
std::pair<int64_t, int64_t> idefics3_first_resize(int64_t width, int64_t height, int64_t longest_edge) {
  const double aspect = double(width) / double(height);
  int64_t w, h;
  if (width >= height) {
    w = longest_edge;
    h = int64_t(double(w) / aspect);
    if (h % 2 != 0) ++h;
  } else {
    h = longest_edge;
    w = int64_t(double(h) * aspect);
    if (w % 2 != 0) ++w;
  }
  h = std::max<int64_t>(h, 1);
  w = std::max<int64_t>(w, 1);
  const double aspect2 = double(w) / double(h);
  if (w >= h && w > kMaxResizedEdge) {
    w = kMaxResizedEdge;
    h = int64_t(double(w) / aspect2);
  } else if (h > w && h > kMaxResizedEdge) {
    h = kMaxResizedEdge;
    w = int64_t(double(h) * aspect2);
  }
  return {std::max<int64_t>(w, 1), std::max<int64_t>(h, 1)};
}

// resize_for_vision_encoder: both edges up to whole tiles.
std::pair<int64_t, int64_t> idefics3_tile_resize(int64_t width, int64_t height, int64_t M) {
  const double aspect = double(width) / double(height);
  const auto up = [M](int64_t x) { return (x + M - 1) / M * M; };
  if (width >= height) {
    const int64_t w = up(width);
    return {w, up(int64_t(double(w) / aspect))};
  }
  const int64_t h = up(height);
  return {up(int64_t(double(h) * aspect)), h};
}

ProcessedImage idefics3_preprocess(const ImageU8& image, const Idefics3ProcessorConfig& cfg) {
  if (image.channels != 3 || image.width <= 0 || image.height <= 0) fail("image", "expected a non-empty RGB image");
  const int64_t M = cfg.tile_size;
  ImageU8 img = image;
  if (cfg.do_resize) {
    const auto [w, h] = idefics3_first_resize(img.width, img.height, cfg.longest_edge);
    if (w != img.width || h != img.height) img = resize_pil(img, int(w), int(h), cfg.resample);
  }
  ProcessedImage out;
  out.tile_size = M;
  std::vector<ImageU8> tiles;
  if (cfg.do_image_splitting) {
    const auto [w, h] = idefics3_tile_resize(img.width, img.height, M);
    if (w != img.width || h != img.height) img = resize_pil(img, int(w), int(h), cfg.resample);
    if (img.width > M || img.height > M) {
      // split_image: whole tiles here, so every crop is M × M.
      out.rows = (img.height + M - 1) / M;
      out.cols = (img.width + M - 1) / M;
      for (int64_t r = 0; r < out.rows; ++r)
        for (int64_t c = 0; c < out.cols; ++c) tiles.push_back(crop(img, int(c * M), int(r * M), int(M), int(M)));
    }
  }
  tiles.push_back(square_to_tile(img, cfg));
  const size_t tile_floats = size_t(3 * M * M);
  out.pixels.resize(tiles.size() * tile_floats);
  for (size_t i = 0; i < tiles.size(); ++i) normalise_into(tiles[i], cfg, out.pixels.data() + i * tile_floats);
  return out;
}

ProcessedImage idefics3_preprocess_frame(const ImageU8& frame, const Idefics3ProcessorConfig& cfg) {
  if (frame.channels != 3 || frame.width <= 0 || frame.height <= 0) fail("video frame", "expected a non-empty RGB image");
  // transformers' video processor resizes with torchvision, which has no LANCZOS and uses
  // antialiased BICUBIC instead (the same filter as PIL's BICUBIC).
  constexpr ResampleFilter kVideoFilter = ResampleFilter::kBicubic;
  ImageU8 img = frame;
  const auto [w, h] = idefics3_first_resize(img.width, img.height, cfg.video_longest_edge);
  if (w != img.width || h != img.height) img = resize_pil(img, int(w), int(h), kVideoFilter);
  const int M = int(cfg.tile_size);
  if (img.width != M || img.height != M) img = resize_pil(img, M, M, kVideoFilter);
  ProcessedImage out;
  out.tile_size = cfg.tile_size;
  out.pixels.resize(size_t(3 * cfg.tile_size * cfg.tile_size));
  normalise_into(img, cfg, out.pixels.data());
  return out;
}

std::string idefics3_image_prompt(int64_t rows, int64_t cols, int64_t seq_len) {
  std::string image_tokens;
  for (int64_t i = 0; i < seq_len; ++i) image_tokens += "<image>";
  std::string s;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      s += "<fake_token_around_image><row_" + std::to_string(r + 1) + "_col_" + std::to_string(c + 1) + ">" + image_tokens;
    s += "\n";
  }
  if (rows > 0) s += "\n";
  return s + "<fake_token_around_image><global-img>" + image_tokens + "<fake_token_around_image>";
}

}  // namespace edgerun

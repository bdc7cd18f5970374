// The SmolVLM / Idefics3 processor (MODELS.md §6.4–6.5), as transformers' Idefics3ImageProcessor
// (PIL path) and Idefics3Processor do it: resize the longest edge, resize again to whole tiles,
// cut tiles plus a global image, normalise; and expand each `<image>` in the prompt into the
// tile markers and image_seq_len image tokens the model was trained on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "media/image.h"

namespace edgerun {

struct Idefics3ProcessorConfig {
  bool do_resize = true, do_image_splitting = true;
  int64_t longest_edge = 2048;  // size.longest_edge: the first resize
  int64_t tile_size = 512;      // max_image_size.longest_edge: tiles and the global image (M)
  ResampleFilter resample = ResampleFilter::kLanczos;
  double rescale_factor = 1.0 / 255.0;
  float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
  int64_t image_seq_len = 64;   // processor_config.json
  // Video (SmolVLM2's video_sampling): frames per second, cap, and frame size.
  double video_fps = 1.0;
  int64_t video_max_frames = 64;
  int64_t video_longest_edge = 512;
};

// From a model directory's preprocessor_config.json and processor_config.json (missing files or
// fields keep the defaults above; malformed ones are errors naming the file and field).
// `tile_size` must equal the vision tower's image size; `image_seq_len` defaults to its token count.
Idefics3ProcessorConfig idefics3_processor_config(const std::string& model_dir, int64_t vision_image_size,
                                                  int64_t tokens_per_tile);

struct ProcessedImage {
  int64_t rows = 0, cols = 0;   // tile grid; 0 × 0 when the image is only the global one
  int64_t tile_size = 0;
  std::vector<float> pixels;    // [n_tiles, 3, M, M]: tiles row-major, then the global image
  int64_t n_tiles() const { return rows * cols + 1; }
  const float* tile(int64_t i) const { return pixels.data() + i * 3 * tile_size * tile_size; }
};

// The sizes of the two resizes (width, height), exposed for tests.
std::pair<int64_t, int64_t> idefics3_first_resize(int64_t width, int64_t height, int64_t longest_edge);
std::pair<int64_t, int64_t> idefics3_tile_resize(int64_t width, int64_t height, int64_t tile_size);

ProcessedImage idefics3_preprocess(const ImageU8& image, const Idefics3ProcessorConfig& config);
// One video frame: no splitting, the frame resized to the video size then squared to M × M.
ProcessedImage idefics3_preprocess_frame(const ImageU8& frame, const Idefics3ProcessorConfig& config);

// The text an `<image>` placeholder becomes for an image with this grid.
std::string idefics3_image_prompt(int64_t rows, int64_t cols, int64_t image_seq_len);

}  // namespace edgerun

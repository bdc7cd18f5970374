// Images as the vision models see them: decoding (PNG, JPEG, BMP, GIF through stb_image),
// PNG writing, Pillow-exact resampling (the Hugging Face and SAM preprocessors resize with PIL,
// and a one-step difference in a pixel changes the embeddings), and PyTorch's bilinear
// interpolation of float maps (mask post-processing).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace edgerun {

// 8-bit pixels, row-major, `channels` interleaved (3 = RGB, 1 = gray).
struct ImageU8 {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;
  uint8_t* at(int x, int y) { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * size_t(channels); }
  const uint8_t* at(int x, int y) const { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * size_t(channels); }
};

// Images larger than this are refused before their pixels are decoded.
constexpr int64_t kMaxImagePixels = int64_t(64) << 20;

// Decodes to RGB as PIL's convert("RGB") does: gray is replicated, alpha dropped (not blended).
// 16-bit images are reduced to 8 bits. A JPEG's EXIF orientation is applied (as
// ImageOps.exif_transpose), so the pixels are upright as a viewer shows them. Throws Error naming `name` for anything that is not a
// readable image, or one over `max_pixels`.
ImageU8 decode_image(std::span<const uint8_t> bytes, const std::string& name, int64_t max_pixels = kMaxImagePixels);
ImageU8 read_image(const std::string& path, int64_t max_pixels = kMaxImagePixels);

// PNG of a 1- or 3-channel image; write_png goes through a temporary file and a rename, so a
// failed write leaves no partial file.
std::vector<uint8_t> encode_png(const ImageU8& image);
std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality = 90);
void write_png(const std::string& path, const ImageU8& image);

// Pillow's Image.resize filters (Resampling.BILINEAR, BICUBIC, LANCZOS).
enum class ResampleFilter { kBilinear, kBicubic, kLanczos };
// Pillow's 8-bit resampling (libImaging/Resample.c): separable, horizontal pass first, weights
// normalised per output pixel and applied in 22-bit fixed point; bit-exact with PIL. With a pool,
// rows are shared out (integer sums: the same bytes either way).
ImageU8 resize_pil(const ImageU8& image, int out_width, int out_height, ResampleFilter filter,
                   ThreadPool* pool = nullptr);

// The rectangle [x, x+width) × [y, y+height) of `image` (must lie inside it).
ImageU8 crop(const ImageU8& image, int x, int y, int width, int height);

// torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False) of
// `channels` maps [in_h, in_w] (row-major, channel after channel) to [out_h, out_w].
void interpolate_bilinear(const float* src, int64_t channels, int64_t in_h, int64_t in_w, float* dst,
                          int64_t out_h, int64_t out_w);
// Of one map's [out_h, out_w] resize only the top-left rows × cols (dst has row stride cols),
// rows split across the pool: what SAM keeps of its mask upscaling before cropping the padding.
void interpolate_bilinear_region(const float* src, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, int64_t rows,
                                 int64_t cols, float* dst, ThreadPool& pool);

}  // namespace edgerun

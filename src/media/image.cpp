#include "media/image.h"

// stb's decoders are compiled here (from Debian's libstb-dev headers) rather than linked from
// libstb.so, so that the sanitizer builds instrument them too.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
// Only the formats we test; fewer decoders, less attack surface.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/error.h"

namespace edgerun {

namespace {

// Debian 12's stb_image (2022-09) builds a JPEG Huffman table from counts that may sum past
// 256 and then writes past its arrays (found by our damaged-file test under UBSan; newer stb
// rejects such tables). Such a file is refused here before stb sees it.
bool jpeg_huffman_tables_fit(std::span<const uint8_t> b) {
  if (b.size() < 2 || b[0] != 0xFF || b[1] != 0xD8) return true;  // not a JPEG
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) {  // entropy-coded data between markers
      ++pos;
      continue;
    }
    const uint8_t m = b[pos + 1];
    if (m == 0xFF) {
      ++pos;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // stuffing, TEM, restart markers
      pos += 2;
      continue;
    }
    if (m == 0xD9) break;  // end of image
    const size_t len = size_t(b[pos + 2]) << 8 | b[pos + 3];
    if (len < 2) break;
    if (m == 0xC4) {  // checked even when the file ends inside it: stb reads on regardless
      // As stb reads it: tables follow one another while the segment has bytes left, each
      // reading its 17 header bytes even past the segment's end (bytes past the file read as 0).
      for (size_t p = pos + 4, end = pos + 2 + len; p < end;) {
        size_t n = 0;
        for (size_t i = 1; i <= 16; ++i) n += p + i < b.size() ? b[p + i] : 0;
        if (n > 256) return false;
        p += 17 + n;
      }
    }
    if (pos + 2 + len > b.size()) break;  // truncated: stb reports it
    pos += 2 + len;
  }
  return true;
}

// The EXIF orientation (1–8) of a JPEG, 1 when it has none. Every offset is checked: the
// segment and the TIFF structure inside it come from the file.
int exif_orientation(std::span<const uint8_t> b) {
  if (b.size() < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= b.size() && b[pos] == 0xFF) {
    const uint8_t marker = b[pos + 1];
    const size_t len = size_t(b[pos + 2]) << 8 | b[pos + 3];
    if (marker == 0xDA || len < 2 || pos + 2 + len > b.size()) return 1;  // image data, or broken
    const uint8_t* seg = b.data() + pos + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 14 && std::equal(seg, seg + 6, "Exif\0\0")) {
      const uint8_t* t = seg + 6;
      const size_t n = seg_len - 6;
      const bool little = t[0] == 'I' && t[1] == 'I';
      if (!little && !(t[0] == 'M' && t[1] == 'M')) return 1;
      const auto u16 = [&](size_t o) -> uint32_t { return little ? t[o] | t[o + 1] << 8 : t[o] << 8 | t[o + 1]; };
      const auto u32 = [&](size_t o) -> uint32_t { return little ? u16(o) | u16(o + 2) << 16 : u16(o) << 16 | u16(o + 2); };
      const size_t ifd = u32(4);
      if (ifd + 2 > n) return 1;
      const size_t entries = u16(ifd);
      for (size_t e = 0; e < entries; ++e) {
        const size_t at = ifd + 2 + 12 * e;
        if (at + 12 > n) return 1;
        if (u16(at) == 0x0112) {
          const uint32_t v = u16(at + 8);
          return v >= 1 && v <= 8 ? int(v) : 1;
        }
      }
      return 1;
    }
    pos += 2 + len;
  }
  return 1;
}

// The image as it should be shown: EXIF orientations 2–8 undone as PIL's exif_transpose does.
ImageU8 apply_orientation(const ImageU8& in, int orientation) {
  if (orientation <= 1) return in;
  const bool swap = orientation >= 5;
  ImageU8 out{swap ? in.height : in.width, swap ? in.width : in.height, in.channels, {}};
  out.pixels.resize(in.pixels.size());
  const int w = in.width, h = in.height;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                     // mirrored
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;     // upside down
        case 4: sy = h - 1 - y; break;                     // mirrored vertically
        case 5: sx = y, sy = x; break;                     // transposed
        case 6: sx = y, sy = h - 1 - x; break;             // rotated: turn 90° clockwise
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;     // transversed
        case 8: sx = w - 1 - y, sy = x; break;             // turn 90° counter-clockwise
      }
      std::copy_n(in.at(sx, sy), in.channels, out.at(x, y));
    }
  return out;
}

}  // namespace

ImageU8 decode_image(std::span<const uint8_t> bytes, const std::string& name, int64_t max_pixels) {
  if (bytes.empty()) fail(name, "the image is empty");
  if (bytes.size() > size_t(INT32_MAX)) fail(name, "the image file is over 2 GiB");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = int(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!jpeg_huffman_tables_fit(bytes)) fail(name, "not a readable image (corrupt JPEG: bad Huffman table)");
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    fail(name, std::string("not a readable image (") + stbi_failure_reason() + ")");
  if (w <= 0 || h <= 0) fail(name, "the image has no pixels");
  if (int64_t(w) * int64_t(h) > max_pixels)
    fail(name, "the image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels, over the limit of " +
                   std::to_string(max_pixels));
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, len, &w, &h, &comp, 3), stbi_image_free);
  if (!pixels) fail(name, std::string("cannot decode the image (") + stbi_failure_reason() + ")");
  ImageU8 img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.assign(pixels.get(), pixels.get() + size_t(w) * size_t(h) * 3);
  return apply_orientation(img, exif_orientation(bytes));
}

ImageU8 read_image(const std::string& path, int64_t max_pixels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the image file");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "cannot read the image file");
  return decode_image(bytes, path, max_pixels);
}

namespace {

void check_writable(const ImageU8& image, const std::string& what) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != size_t(image.width) * size_t(image.height) * size_t(image.channels))
    fail(what, "not a valid 1- or 3-channel image");
}

}  // namespace

std::vector<uint8_t> encode_png(const ImageU8& image) {
  check_writable(image, "PNG");
  std::vector<uint8_t> out;
  const auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &out, image.width, image.height, image.channels, image.pixels.data(),
                              image.width * image.channels))
    fail("PNG", "encoding failed");
  return out;
}

std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality) {
  check_writable(image, "JPEG");
  std::vector<uint8_t> out;
  const auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_jpg_to_func(append, &out, image.width, image.height, image.channels, image.pixels.data(), std::clamp(quality, 1, 100)))
    fail("JPEG", "encoding failed");
  return out;
}

void write_png(const std::string& path, const ImageU8& image) {
  const std::vector<uint8_t> png = encode_png(image);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(path, "cannot create the file");
    out.write(reinterpret_cast<const char*>(png.data()), std::streamsize(png.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      fail(path, "cannot write the file");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, "cannot move the finished file into place");
  }
}

ImageU8 crop(const ImageU8& image, int x, int y, int width, int height) {
  if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > image.width || y + height > image.height)
    fail("crop", "rectangle outside the image");
  ImageU8 out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.resize(size_t(width) * size_t(height) * size_t(image.channels));
  const size_t row = size_t(width) * size_t(image.channels);
  for (int r = 0; r < height; ++r) std::copy_n(image.at(x, y + r), row, out.pixels.data() + size_t(r) * row);
  return out;
}

// ---- Pillow's resampling ------------------------------------------------------------------

namespace {

// Fixed-point precision of Pillow's 8-bit path: 32 bits minus 8 for the pixel, minus 2 spare.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Filter {
  double support;
  double (*weight)(double);
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double cubic(double x) {  // Keys' cubic with a = -0.5, as Pillow
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos3(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

Filter filter_of(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kBilinear: return {1.0, triangle};
    case ResampleFilter::kBicubic: return {2.0, cubic};
    case ResampleFilter::kLanczos: return {3.0, lanczos3};
  }
  return {1.0, triangle};
}

// For each output pixel along one axis: the first input pixel it reads, how many, and their
// fixed-point weights (`taps` per output pixel).
struct AxisWeights {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

AxisWeights axis_weights(int in_size, int out_size, const Filter& filter) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);  // widen the kernel when shrinking
  const double support = filter.support * filter_scale;
  AxisWeights a;
  a.taps = int(std::ceil(support)) * 2 + 1;
  a.first.resize(size_t(out_size));
  a.count.resize(size_t(out_size));
  a.weights.assign(size_t(out_size) * size_t(a.taps), 0);
  std::vector<double> w(size_t(a.taps));
  const double inverse_scale = 1.0 / filter_scale;
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    int lo = int(center - support + 0.5);  // truncation toward zero, as Pillow's (int) cast
    int hi = int(center + support + 0.5);
    lo = std::max(lo, 0);
    hi = std::min(hi, in_size);
    const int n = std::min(hi - lo, a.taps);
    double total = 0.0;
    for (int i = 0; i < n; ++i) total += (w[size_t(i)] = filter.weight((i + lo - center + 0.5) * inverse_scale));
    for (int i = 0; i < n; ++i) {
      const double normalised = total != 0.0 ? w[size_t(i)] / total : w[size_t(i)];
      const double fixed = normalised * double(1 << kPrecisionBits);
      a.weights[size_t(o) * size_t(a.taps) + size_t(i)] = int32_t(fixed < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    a.first[size_t(o)] = lo;
    a.count[size_t(o)] = std::max(n, 0);
  }
  return a;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

// One pass along x (horizontal) or y: out[..] = Σ weight · in[..], rounded as Pillow rounds.
ImageU8 resample_axis(const ImageU8& in, const AxisWeights& a, bool horizontal, int out_size, int row_first, int rows,
                      ThreadPool* pool) {
  ImageU8 out;
  out.channels = in.channels;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? rows : out_size;
  out.pixels.resize(size_t(out.width) * size_t(out.height) * size_t(out.channels));
  const int C = in.channels;
  const size_t row_bytes = size_t(in.width) * size_t(C);
  // Output rows [y0, y1): horizontally each from its own input row; vertically whole rows at a
  // time (integer sums, so the order of the taps does not matter).
  const auto rows_of = [&](int64_t y0, int64_t y1) {
    if (horizontal) {
      for (int64_t y = y0; y < y1; ++y) {
        const uint8_t* row = in.at(0, int(y) + row_first);
        for (int x = 0; x < out.width; ++x) {
          const int32_t* w = a.weights.data() + size_t(x) * size_t(a.taps);
          const uint8_t* src = row + size_t(a.first[size_t(x)]) * size_t(C);
          uint8_t* dst = out.at(x, int(y));
          for (int c = 0; c < C; ++c) {
            int32_t acc = 1 << (kPrecisionBits - 1);
            for (int i = 0; i < a.count[size_t(x)]; ++i) acc += int32_t(src[i * C + c]) * w[i];
            dst[c] = clip8(acc);
          }
        }
      }
      return;
    }
    std::vector<int32_t> acc(row_bytes);
    for (int64_t y = y0; y < y1; ++y) {
      const int32_t* w = a.weights.data() + size_t(y) * size_t(a.taps);
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      for (int i = 0; i < a.count[size_t(y)]; ++i) {
        const uint8_t* src = in.at(0, a.first[size_t(y)] + i);
        const int32_t wi = w[i];
        for (size_t k = 0; k < row_bytes; ++k) acc[k] += int32_t(src[k]) * wi;
      }
      uint8_t* dst = out.at(0, int(y));
      for (size_t k = 0; k < row_bytes; ++k) dst[k] = clip8(acc[k]);
    }
  };
  if (pool) pool->parallel_for(out.height, [&](int64_t y0, int64_t y1, int) { rows_of(y0, y1); }, 8);
  else rows_of(0, out.height);
  return out;
}

}  // namespace

ImageU8 resize_pil(const ImageU8& image, int out_width, int out_height, ResampleFilter filter, ThreadPool* pool) {
  if (out_width <= 0 || out_height <= 0) fail("resize", "the target size must be positive");
  if (image.width <= 0 || image.height <= 0) fail("resize", "the image has no pixels");
  const Filter f = filter_of(filter);
  const bool need_x = out_width != image.width, need_y = out_height != image.height;
  if (!need_x && !need_y) return image;
  AxisWeights wy = axis_weights(image.height, out_height, f);
  if (!need_x) return resample_axis(image, wy, false, out_height, 0, image.height, pool);
  const AxisWeights wx = axis_weights(image.width, out_width, f);
  // The horizontal pass covers only the rows the vertical pass will read.
  const int row_first = wy.first.front();
  const int row_last = wy.first.back() + wy.count.back();
  ImageU8 mid =
      resample_axis(image, wx, true, out_width, need_y ? row_first : 0, need_y ? row_last - row_first : image.height, pool);
  if (!need_y) return mid;
  for (int& first : wy.first) first -= row_first;
  return resample_axis(mid, wy, false, out_height, 0, mid.height, pool);
}

// ---- PyTorch's bilinear interpolation -----------------------------------------------------

void interpolate_bilinear_region(const float* src, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, int64_t rows,
                                 int64_t cols, float* dst, ThreadPool& pool) {
  if (rows <= 0 || cols <= 0) return;
  if (in_h == out_h && in_w == out_w) {  // every output pixel sits on its source pixel (weights 1, 0)
    pool.parallel_for(rows, [&](int64_t y0, int64_t y1, int) {
      for (int64_t y = y0; y < y1; ++y) std::copy_n(src + y * in_w, cols, dst + y * cols);
    }, 64);
    return;
  }
  // Source coordinate of an output pixel's centre, clamped at 0 (align_corners=False).
  const auto source = [](int64_t o, int64_t in, int64_t out, int64_t& i0, int64_t& i1, float& frac) {
    const float scale = float(in) / float(out);
    const float s = std::max((float(o) + 0.5f) * scale - 0.5f, 0.0f);
    i0 = std::min(int64_t(s), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    frac = s - float(i0);
  };
  std::vector<int64_t> x0(static_cast<size_t>(cols)), x1(static_cast<size_t>(cols));
  std::vector<float> fx(static_cast<size_t>(cols));
  for (int64_t x = 0; x < cols; ++x) source(x, in_w, out_w, x0[size_t(x)], x1[size_t(x)], fx[size_t(x)]);
  // PyTorch blends the two source rows an output pixel reads horizontally, then the two results
  // vertically. The horizontal blend of a source row is the same for every output row reading
  // it, so each row the region needs is blended once and the output rows mix those.
  int64_t first, last, unused;
  float f;
  source(0, in_h, out_h, first, unused, f);
  source(rows - 1, in_h, out_h, unused, last, f);
  const std::unique_ptr<float[]> blended(new float[size_t((last - first + 1) * cols)]);  // fully written
  pool.parallel_for(last - first + 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = src + (first + r) * in_w;
      float* out = blended.get() + r * cols;
      for (int64_t x = 0; x < cols; ++x) {
        const float a = fx[size_t(x)];
        out[x] = (1.0f - a) * row[x0[size_t(x)]] + a * row[x1[size_t(x)]];
      }
    }
  }, 16);
  pool.parallel_for(rows, [&](int64_t y_begin, int64_t y_end, int) {
    for (int64_t y = y_begin; y < y_end; ++y) {
      int64_t y0, y1;
      float fy;
      source(y, in_h, out_h, y0, y1, fy);
      const float* top = blended.get() + (y0 - first) * cols;
      const float* bottom = blended.get() + (y1 - first) * cols;
      for (int64_t x = 0; x < cols; ++x) dst[y * cols + x] = (1.0f - fy) * top[x] + fy * bottom[x];
    }
  }, 16);
}

void interpolate_bilinear(const float* src, int64_t channels, int64_t in_h, int64_t in_w, float* dst,
                          int64_t out_h, int64_t out_w) {
  ThreadPool serial(1);
  for (int64_t c = 0; c < channels; ++c)
    interpolate_bilinear_region(src + c * in_h * in_w, in_h, in_w, out_h, out_w, out_h, out_w, dst + c * out_h * out_w, serial);
}

}  // namespace edgerun

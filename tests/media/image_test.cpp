// Image decoding, PNG writing, Pillow-exact resizing (against the SAM and SmolVLM goldens, which
// were made with PIL) and PyTorch's bilinear interpolation.
#include "media/image.h"

#include <gtest/gtest.h>

#include <array>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.h"
#include "formats/json_file.h"
#include "models/golden_expected.h"
#include "test_util.h"

namespace edgerun {
namespace {

std::string sam_dir(const std::string& c) { return test::golden_dir() + "/sam/" + c; }
std::string vlm_dir() { return test::golden_dir() + "/vlm/tiny-smolvlm"; }

// Every SAM golden image resized to the long side 1024 with PIL's bilinear filter, byte for byte.
TEST(ImageResize, BilinearMatchesPillowOnTheSamGoldens) {
  int checked = 0;
  for (const std::string c : {"sam-vit-mini", "mobile-sam"}) {
    const json cs = read_ordered_json_file(sam_dir(c) + "/case.json");
    test::Expected expected{read_safetensors(sam_dir(c) + "/expected.safetensors")};
    for (const json& img : cs["images"]) {
      const ImageU8 original = read_image(sam_dir(c) + "/" + img["file"].get<std::string>());
      ASSERT_EQ(original.height, img["original_size_hw"][0].get<int>());
      ASSERT_EQ(original.width, img["original_size_hw"][1].get<int>());
      const int h = img["input_size_hw"][0], w = img["input_size_hw"][1];
      const Tensor& want = expected.get(img["tensors"]["resized_u8"].get<std::string>());
      ASSERT_EQ(want.shape, (std::vector<int64_t>{h, w, 3}));
      ThreadPool pool(2);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {  // serial, and rows shared out
        const ImageU8 resized = resize_pil(original, w, h, ResampleFilter::kBilinear, p);
        ASSERT_EQ(resized.pixels.size(), want.nbytes);
        size_t mismatches = 0;
        for (size_t i = 0; i < want.nbytes; ++i) mismatches += resized.pixels[i] != want.data[i];
        EXPECT_EQ(mismatches, 0u) << c << " " << img["file"] << (p ? " (pool)" : "");
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);
}

// SmolVLM's processor (LANCZOS twice, 512-pixel tiles, a global image) on image 1 of the golden:
// the pixel values must match to float rounding, i.e. every resized byte is PIL's.
TEST(ImageResize, LanczosMatchesPillowOnTheSmolVlmGolden) {
  const json cs = read_ordered_json_file(vlm_dir() + "/case.json");
  const json& img = cs["images"][0];
  const ImageU8 original = read_image(vlm_dir() + "/" + img["file"].get<std::string>());
  ASSERT_EQ(original.width, img["size_wh"][0].get<int>());
  const ImageU8 first = resize_pil(original, img["resize1_hw"][1], img["resize1_hw"][0], ResampleFilter::kLanczos);
  const ImageU8 second = resize_pil(first, img["resize2_hw"][1], img["resize2_hw"][0], ResampleFilter::kLanczos);
  const int rows = img["rows"], cols = img["cols"], M = 512;
  std::vector<ImageU8> tiles;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) tiles.push_back(crop(second, c * M, r * M, M, M));
  tiles.push_back(resize_pil(second, M, M, ResampleFilter::kLanczos));
  ASSERT_EQ(int(tiles.size()), img["n_tiles"].get<int>());

  test::Expected expected{read_safetensors(vlm_dir() + "/expected.safetensors")};
  const std::vector<float> want = expected.floats("image1.pixel_values");
  ASSERT_EQ(want.size(), tiles.size() * 3 * M * M);
  double worst = 0;
  for (size_t t = 0; t < tiles.size(); ++t)
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < M; ++y)
        for (int x = 0; x < M; ++x) {
          const float v = (float(tiles[t].at(x, y)[ch]) * float(1.0 / 255.0) - 0.5f) / 0.5f;
          worst = std::max(worst, std::fabs(double(v) - want[((t * 3 + size_t(ch)) * M + size_t(y)) * M + size_t(x)]));
        }
  EXPECT_LT(worst, 1e-5) << "one step of a byte is 0.0078";
}

TEST(ImageResize, BicubicIdentityAndShapes) {
  ImageU8 img{5, 3, 3, {}};
  for (int i = 0; i < 5 * 3 * 3; ++i) img.pixels.push_back(uint8_t(i * 7));
  EXPECT_EQ(resize_pil(img, 5, 3, ResampleFilter::kBicubic).pixels, img.pixels);
  const ImageU8 up = resize_pil(img, 11, 2, ResampleFilter::kBicubic);
  EXPECT_EQ(up.width, 11);
  EXPECT_EQ(up.height, 2);
  // A flat image stays flat under every filter (weights sum to one).
  ImageU8 flat{7, 9, 3, std::vector<uint8_t>(7 * 9 * 3, 200)};
  for (auto f : {ResampleFilter::kBilinear, ResampleFilter::kBicubic, ResampleFilter::kLanczos})
    for (const ImageU8& r : {resize_pil(flat, 3, 20, f), resize_pil(flat, 30, 4, f)})
      for (uint8_t p : r.pixels) ASSERT_EQ(p, 200);
  EXPECT_THROW(resize_pil(img, 0, 3, ResampleFilter::kBilinear), Error);
}

TEST(ImageIo, PngRoundTripRgbAndGray) {
  test::TempDir tmp;
  ImageU8 rgb{4, 3, 3, {}};
  for (int i = 0; i < 36; ++i) rgb.pixels.push_back(uint8_t(i * 5 + 1));
  write_png(tmp.file("rgb.png"), rgb);
  const ImageU8 back = read_image(tmp.file("rgb.png"));
  EXPECT_EQ(back.width, 4);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.pixels, rgb.pixels);
  ImageU8 gray{3, 2, 1, {0, 50, 100, 150, 200, 250}};
  const std::vector<uint8_t> png = encode_png(gray);
  const ImageU8 g = decode_image(png, "gray.png");  // gray decodes to RGB, replicated
  ASSERT_EQ(g.pixels.size(), 18u);
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g.pixels[size_t(i * 3 + c)], gray.pixels[size_t(i)]);
  EXPECT_EQ(tmp.count(), 1u) << "no temporary file left behind";
}

void expect_error_naming(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ImageIo, BadInputIsAClearError) {
  test::TempDir tmp;
  expect_error_naming([&] { read_image(tmp.file("missing.png")); }, "missing.png");
  expect_error_naming([&] { decode_image({}, "empty.png"); }, "empty.png");
  const std::vector<uint8_t> junk(300, 0x5a);
  expect_error_naming([&] { decode_image(junk, "junk.jpg"); }, "junk.jpg");
  // A real PNG cut short.
  ImageU8 img{16, 16, 3, std::vector<uint8_t>(16 * 16 * 3, 9)};
  std::vector<uint8_t> png = encode_png(img);
  png.resize(png.size() / 2);
  expect_error_naming([&] { decode_image(png, "cut.png"); }, "cut.png");
  // A header claiming 100000 x 100000 pixels is refused before anything is allocated.
  std::vector<uint8_t> huge = encode_png(img);
  const uint8_t dims[8] = {0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0};  // IHDR width, height
  std::copy(dims, dims + 8, huge.begin() + 16);
  expect_error_naming([&] { decode_image(huge, "huge.png"); }, "huge.png");
  expect_error_naming([&] { write_png(tmp.file("no/such/dir/x.png"), img); }, "x.png");
}

// A JPEG with an EXIF orientation comes out upright: a 40x20 image, red on its left half, with
// orientation 6 ("turn 90° clockwise to view") becomes 20x40 with the red half on top.
TEST(ImageIo, JpegExifOrientationIsApplied) {
  ImageU8 img{40, 20, 3, {}};
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 40; ++x) {
      const uint8_t px[3] = {uint8_t(x < 20 ? 255 : 0), 0, uint8_t(x < 20 ? 0 : 255)};
      img.pixels.insert(img.pixels.end(), px, px + 3);
    }
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 95);
  const auto with_orientation = [&](uint16_t o) {
    // APP1 "Exif\0\0" + little-endian TIFF with one IFD0 entry: 0x0112 SHORT 1 = o.
    const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, uint8_t(o), 0, 0, 0, 0, 0, 0, 0};
    std::vector<uint8_t> app1 = {0xFF, 0xE1, 0, uint8_t(2 + 6 + sizeof tiff), 'E', 'x', 'i', 'f', 0, 0};
    app1.insert(app1.end(), tiff, tiff + sizeof tiff);
    std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
    out.insert(out.end(), app1.begin(), app1.end());
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return decode_image(out, "exif.jpg");
  };
  const ImageU8 upright = with_orientation(1);
  EXPECT_EQ(upright.width, 40);
  EXPECT_GT(upright.at(5, 10)[0], 200);  // red on the left
  const ImageU8 turned = with_orientation(6);
  ASSERT_EQ(turned.width, 20);
  ASSERT_EQ(turned.height, 40);
  EXPECT_GT(turned.at(10, 5)[0], 200);   // red now on top
  EXPECT_GT(turned.at(10, 35)[2], 200);  // blue at the bottom
  const ImageU8 mirrored = with_orientation(2);
  EXPECT_GT(mirrored.at(35, 10)[0], 200);  // red on the right
}

// Random damage to a PNG and a JPEG: decoding either works or throws Error (the sanitizer build
// runs this too).
TEST(ImageIo, DamagedFilesNeverCrashTheDecoder) {
  ImageU8 img{24, 16, 3, {}};
  for (int i = 0; i < 24 * 16 * 3; ++i) img.pixels.push_back(uint8_t(i * 37));
  std::mt19937 rng(5);
  for (const std::vector<uint8_t>& original : {encode_png(img), encode_jpeg(img, 80)}) {
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> b = original;
      const int flips = 1 + int(rng() % 8);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = uint8_t(rng());
      if (trial % 3 == 0) b.resize(rng() % b.size());
      try {
        const ImageU8 r = decode_image(b, "fuzz");
        EXPECT_EQ(r.pixels.size(), size_t(r.width) * size_t(r.height) * 3);
      } catch (const Error&) {
      }
    }
  }
}

TEST(Interpolate, BilinearMatchesTorchDefinition) {
  const int64_t C = 2, H = 3, W = 5;
  std::vector<float> src(size_t(C * H * W));
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(std::sin(double(i) * 1.7) * 3.0);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{7, 11}, {2, 3}, {3, 5}, {12, 4}}) {
    std::vector<float> out(size_t(C * oh * ow));
    interpolate_bilinear(src.data(), C, H, W, out.data(), oh, ow);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          const double sy = std::max((y + 0.5) * double(H) / double(oh) - 0.5, 0.0);
          const double sx = std::max((x + 0.5) * double(W) / double(ow) - 0.5, 0.0);
          const int64_t y0 = std::min(int64_t(sy), H - 1), x0 = std::min(int64_t(sx), W - 1);
          const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
          const double fy = sy - double(y0), fx = sx - double(x0);
          const auto p = [&](int64_t yy, int64_t xx) { return double(src[size_t((c * H + yy) * W + xx)]); };
          const double want = (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x1)) + fy * ((1 - fx) * p(y1, x0) + fx * p(y1, x1));
          EXPECT_NEAR(out[size_t((c * oh + y) * ow + x)], want, 1e-5);
        }
  }
  // Hand-checked: 2 pixels [0, 4] upsampled to 4 → 0, 1, 3, 4.
  const float row[2] = {0.0f, 4.0f};
  float up[4];
  interpolate_bilinear(row, 1, 1, 2, up, 1, 4);
  EXPECT_FLOAT_EQ(up[0], 0.0f);
  EXPECT_FLOAT_EQ(up[1], 1.0f);
  EXPECT_FLOAT_EQ(up[2], 3.0f);
  EXPECT_FLOAT_EQ(up[3], 4.0f);
}

// A region is exactly the top-left of the whole resize (SAM crops its upscaled masks this way),
// whether it upscales, downscales or keeps the size.
TEST(Interpolate, RegionIsTheTopLeftOfTheWholeResize) {
  ThreadPool pool(2);
  const int64_t H = 16, W = 16;
  std::vector<float> src(size_t(H * W));
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(std::cos(double(i) * 0.37) * 5.0);
  for (auto [oh, ow, rows, cols] : {std::array<int64_t, 4>{64, 64, 64, 43}, {64, 64, 17, 64}, {9, 7, 5, 7}, {16, 16, 11, 9}}) {
    std::vector<float> whole(size_t(oh * ow)), region(size_t(rows * cols));
    interpolate_bilinear(src.data(), 1, H, W, whole.data(), oh, ow);
    interpolate_bilinear_region(src.data(), H, W, oh, ow, rows, cols, region.data(), pool);
    for (int64_t y = 0; y < rows; ++y)
      for (int64_t x = 0; x < cols; ++x) ASSERT_EQ(region[size_t(y * cols + x)], whole[size_t(y * ow + x)]) << oh << " " << y << "," << x;
  }
}

}  // namespace
}  // namespace edgerun

// `edgerun bench`: prompt-processing and generation speed of a model on this machine; for a SAM
// model, image-encoding and prompt-decoding times.
#include <chrono>
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "runtime/bench.h"
#include "runtime/sam_predictor.h"

namespace edgerun::cli {

namespace {

// A smooth colour field with a few edges: something for the encoder that is not all one value.
ImageU8 synthetic_image(int width, int height) {
  ImageU8 im;
  im.width = width;
  im.height = height;
  im.pixels.resize(size_t(width) * size_t(height) * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = im.at(x, y);
      const bool inside = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) < height * height / 9;
      p[0] = uint8_t(x * 255 / width);
      p[1] = uint8_t(y * 255 / height);
      p[2] = inside ? 220 : 40;
    }
  return im;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The first encode (cold: fresh buffers) apart, then `repeats` encodes and, on the last image,
// `repeats` decodes of a one-point prompt (one mask) and of a box (three masks), as a client
// clicking on an encoded image would cause.
int run_sam_bench(const BenchArgs& a) {
  const auto model = load_sam(a.model);
  const ImageU8 image = a.image.empty() ? synthetic_image(1024, 768) : read_image(a.image);
  ThreadPool pool(a.threads);
  SamPredictor predictor(*model, pool);
  const int repeats = std::max(1, a.repeats);
  auto t0 = std::chrono::steady_clock::now();
  predictor.set_image(image);
  const double first_ms = ms_since(t0);
  std::vector<double> encode, point, box;
  for (int r = 0; r < repeats; ++r) {
    t0 = std::chrono::steady_clock::now();
    predictor.set_image(image);
    encode.push_back(ms_since(t0));
  }
  SamPrompt click, rect;
  click.points.push_back({float(image.width) / 2, float(image.height) / 2});
  click.labels.push_back(1);
  click.multimask = false;
  rect.box = std::array<float, 4>{float(image.width) / 4, float(image.height) / 4, float(image.width) * 3 / 4,
                                  float(image.height) * 3 / 4};
  rect.multimask = true;
  for (int r = 0; r < repeats + 1; ++r) {  // the first of each is a warm-up
    t0 = std::chrono::steady_clock::now();
    predictor.predict(click);
    if (r > 0) point.push_back(ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    predictor.predict(rect);
    if (r > 0) box.push_back(ms_since(t0));
  }
  const Stat e = stat_of(encode), p = stat_of(point), b = stat_of(box);
  if (a.json) {
    const json j = {{"model", a.model}, {"encoder", model->encoder->describe()}, {"threads", pool.size()},
                    {"image_width", image.width}, {"image_height", image.height}, {"repeats", repeats},
                    {"first_encode_ms", first_ms}, {"encode_ms", e.mean}, {"encode_ms_sd", e.sd}, {"encode_ms_min", e.min},
                    {"point_decode_ms", p.mean}, {"point_decode_ms_sd", p.sd}, {"box_decode_ms", b.mean},
                    {"box_decode_ms_sd", b.sd}};
    std::puts(j.dump().c_str());
    return 0;
  }
  std::printf("model:        %s (%s)\n", a.model.c_str(), model->encoder->describe().c_str());
  std::printf("threads:      %d\n", pool.size());
  std::printf("image:        %dx%d\n", image.width, image.height);
  std::printf("first encode  %8.1f ms\n", first_ms);
  std::printf("encode        %8.1f ± %.1f ms (fastest %.1f)\n", e.mean, e.sd, e.min);
  std::printf("point decode  %8.2f ± %.2f ms (1 mask, fastest %.2f)\n", p.mean, p.sd, p.min);
  std::printf("box decode    %8.2f ± %.2f ms (3 masks, fastest %.2f)\n", b.mean, b.sd, b.min);
  return 0;
}

}  // namespace

int run_bench(const BenchArgs& a) {
  if (!a.model.empty() && is_sam_model(a.model)) return run_sam_bench(a);
  if (!a.image.empty())
    fail("--image", "is for SAM models; " + (a.model.empty() ? std::string("the built-in model") : a.model) + " is a language model");
  LoadedModel m = open_model(a.model, LoadOptions{true, false, {}});
  ThreadPool pool(a.threads);
  BenchOptions opt;
  opt.n_prompt = a.n_prompt;
  opt.n_gen = a.n_gen;
  opt.repeats = a.repeats;
  const BenchResult r = run_benchmark(*m.model, pool, opt, [&](const std::string& line) {
    if (!a.json) std::fprintf(stderr, "edgerun bench: %s\n", line.c_str());
  });
  if (a.json) {
    const json j = {{"model", a.model.empty() ? kDefaultModelName : a.model},
                    {"threads", pool.size()},
                    {"n_prompt", a.n_prompt},
                    {"n_gen", a.n_gen},
                    {"repeats", a.repeats},
                    {"pp_tokens_per_s", r.pp_tokens_per_s.mean},
                    {"pp_tokens_per_s_sd", r.pp_tokens_per_s.sd},
                    {"tg_tokens_per_s", r.tg_tokens_per_s.mean},
                    {"tg_tokens_per_s_sd", r.tg_tokens_per_s.sd},
                    {"model_bytes", r.model_bytes},
                    {"machine_bandwidth_bytes_per_s", r.machine_bandwidth},
                    {"achieved_bandwidth_bytes_per_s", r.achieved_bandwidth},
                    {"bandwidth_fraction", r.bandwidth_fraction}};
    std::puts(j.dump().c_str());
    return 0;
  }
  std::printf("model:        %s\n", a.model.empty() ? kDefaultModelName : a.model.c_str());
  std::printf("threads:      %d\n", pool.size());
  if (a.n_prompt > 0)
    std::printf("pp%-5lld      %8.2f ± %.2f tokens/s\n", (long long)a.n_prompt, r.pp_tokens_per_s.mean, r.pp_tokens_per_s.sd);
  if (a.n_gen > 0)
    std::printf("tg%-5lld      %8.2f ± %.2f tokens/s\n", (long long)a.n_gen, r.tg_tokens_per_s.mean, r.tg_tokens_per_s.sd);
  std::printf("bytes/token:  %s\n", format_bytes(double(r.model_bytes)).c_str());
  std::printf("bandwidth:    %.1f GB/s achieved of %.1f GB/s measured (%.0f%%)\n", r.achieved_bandwidth / 1e9,
              r.machine_bandwidth / 1e9, 100 * r.bandwidth_fraction);
  return 0;
}

}  // namespace edgerun::cli

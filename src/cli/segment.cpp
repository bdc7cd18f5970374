// `edgerun segment`: promptable segmentation of one image with a SAM checkpoint. The image is
// encoded once; each prompt (from the flags, or a list in --prompts) reuses the embedding.
#include <chrono>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/common.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "runtime/sam_predictor.h"

namespace edgerun::cli {

namespace {

namespace fs = std::filesystem;

// "X,Y" or "X,Y,L" (label 1 foreground, 0 background; default 1).
void parse_point(const std::string& text, SamPrompt& p) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      v.push_back(std::stod(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      fail("--point", "'" + text + "' is not X,Y or X,Y,LABEL");
    }
  }
  if (v.size() < 2 || v.size() > 3) fail("--point", "'" + text + "' is not X,Y or X,Y,LABEL");
  const int label = v.size() == 3 ? int(v[2]) : 1;
  if (v.size() == 3 && (v[2] != 0 && v[2] != 1)) fail("--point", "label in '" + text + "' must be 1 or 0");
  p.points.push_back({float(v[0]), float(v[1])});
  p.labels.push_back(label);
}

std::array<float, 4> parse_box(const std::string& text) {
  std::array<float, 4> b{};
  std::stringstream ss(text);
  std::string part;
  int n = 0;
  while (std::getline(ss, part, ',')) {
    if (n == 4) fail("--box", "'" + text + "' is not X0,Y0,X1,Y1");
    try {
      size_t used = 0;
      b[size_t(n++)] = std::stof(part, &used);
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      fail("--box", "'" + text + "' is not X0,Y0,X1,Y1");
    }
  }
  if (n != 4) fail("--box", "'" + text + "' is not X0,Y0,X1,Y1");
  if (b[2] < b[0] || b[3] < b[1]) fail("--box", "'" + text + "': X1,Y1 must not be left of or above X0,Y0");
  return b;
}

std::vector<float> read_mask_input(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  for (const Tensor& t : f.tensors) {
    if (t.name != "mask_input") continue;
    if (t.dtype != DType::F32 || t.shape != std::vector<int64_t>{1, 1, 256, 256})
      fail(path, "'mask_input' must be F32 [1, 1, 256, 256], got " + std::string(dtype_name(t.dtype)) + " " + t.shape_string());
    std::vector<float> v(256 * 256);
    std::memcpy(v.data(), t.data, v.size() * sizeof(float));
    return v;
  }
  fail(path, "no tensor named 'mask_input'");
}

void check_inside(const SamPrompt& p, const ImageU8& img, const std::string& where) {
  const auto inside = [&](float x, float y) { return x >= 0 && y >= 0 && x < float(img.width) && y < float(img.height); };
  for (const auto& pt : p.points)
    if (!inside(pt[0], pt[1]))
      fail(where, "point " + std::to_string(pt[0]) + "," + std::to_string(pt[1]) + " is outside the " +
                      std::to_string(img.width) + "x" + std::to_string(img.height) + " image");
  if (p.box && (!inside((*p.box)[0], (*p.box)[1]) || (*p.box)[2] > float(img.width) || (*p.box)[3] > float(img.height)))
    fail(where, "the box is outside the " + std::to_string(img.width) + "x" + std::to_string(img.height) + " image");
  if (p.points.empty() && !p.box && p.mask_input.empty()) fail(where, "give at least one point, a box or a mask input");
}

// One prompt of a --prompts file: {"points": [[x, y], ...], "labels": [...], "box": [...],
// "multimask": bool, "mask_input": "prev.safetensors", "output": "mask.png"}.
SamPrompt prompt_from_json(const json& j, const std::string& where, std::string& output) {
  if (!j.is_object()) fail(where, "each prompt must be an object");
  SamPrompt p;
  p.multimask = j.value("multimask", false);
  if (j.contains("points")) {
    if (!j["points"].is_array()) fail(where + ".points", "must be an array of [x, y]");
    for (const json& pt : j["points"]) {
      if (!pt.is_array() || pt.size() != 2 || !pt[0].is_number() || !pt[1].is_number())
        fail(where + ".points", "each point must be [x, y]");
      p.points.push_back({pt[0].get<float>(), pt[1].get<float>()});
    }
    const json labels = j.value("labels", json::array());
    for (size_t i = 0; i < p.points.size(); ++i) {
      const int label = i < labels.size() && labels[i].is_number_integer() ? labels[i].get<int>() : 1;
      if (label != 0 && label != 1) fail(where + ".labels", "labels must be 1 or 0");
      p.labels.push_back(label);
    }
  }
  if (j.contains("box")) {
    const json& b = j["box"];
    if (!b.is_array() || b.size() != 4) fail(where + ".box", "must be [x0, y0, x1, y1]");
    p.box = std::array<float, 4>{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
  }
  if (j.contains("mask_input")) p.mask_input = read_mask_input(j["mask_input"].get<std::string>());
  output = j.value("output", "");
  return p;
}

ImageU8 mask_png(const SamPrediction& r, int64_t index) {
  ImageU8 m{int(r.width), int(r.height), 1, {}};
  const uint8_t* src = r.masks.data() + index * r.width * r.height;
  m.pixels.resize(size_t(r.width * r.height));
  for (size_t i = 0; i < m.pixels.size(); ++i) m.pixels[i] = src[i] ? 255 : 0;
  return m;
}

// The image with the mask tinted blue and outlined, foreground points green, background red,
// the box yellow: something a person can check at a glance.
ImageU8 overlay(const ImageU8& image, const SamPrediction& r, int64_t index, const SamPrompt& p) {
  ImageU8 out = image;
  const uint8_t* m = r.masks.data() + index * r.width * r.height;
  const auto masked = [&](int x, int y) { return x >= 0 && y >= 0 && x < out.width && y < out.height && m[size_t(y) * size_t(out.width) + size_t(x)]; };
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      if (!masked(x, y)) continue;
      uint8_t* px = out.at(x, y);
      const bool edge = !masked(x - 1, y) || !masked(x + 1, y) || !masked(x, y - 1) || !masked(x, y + 1);
      const uint8_t tint[3] = {30, 144, 255};
      for (int c = 0; c < 3; ++c) px[c] = edge ? tint[c] : uint8_t((px[c] + tint[c]) / 2);
    }
  const auto dot = [&](float cx, float cy, const uint8_t color[3]) {
    const int r2 = std::max(3, std::min(out.width, out.height) / 100);
    for (int y = int(cy) - r2; y <= int(cy) + r2; ++y)
      for (int x = int(cx) - r2; x <= int(cx) + r2; ++x)
        if (x >= 0 && y >= 0 && x < out.width && y < out.height && (x - cx) * (x - cx) + (y - cy) * (y - cy) <= float(r2 * r2))
          std::copy_n(color, 3, out.at(x, y));
  };
  const uint8_t green[3] = {0, 220, 0}, red[3] = {230, 0, 0}, yellow[3] = {255, 220, 0};
  for (size_t i = 0; i < p.points.size(); ++i) dot(p.points[i][0], p.points[i][1], p.labels[i] ? green : red);
  if (p.box) {
    const auto& b = *p.box;
    const int x0 = std::clamp(int(b[0]), 0, out.width - 1), x1 = std::clamp(int(b[2]), 0, out.width - 1);
    const int y0 = std::clamp(int(b[1]), 0, out.height - 1), y1 = std::clamp(int(b[3]), 0, out.height - 1);
    for (int t = 0; t < 2; ++t) {
      for (int x = x0; x <= x1; ++x) std::copy_n(yellow, 3, out.at(x, std::min(y0 + t, y1))), std::copy_n(yellow, 3, out.at(x, std::max(y1 - t, y0)));
      for (int y = y0; y <= y1; ++y) std::copy_n(yellow, 3, out.at(std::min(x0 + t, x1), y)), std::copy_n(yellow, 3, out.at(std::max(x1 - t, x0), y));
    }
  }
  return out;
}

// mask.png → mask_2.png
std::string numbered(const std::string& path, int64_t k) {
  const fs::path p(path);
  return (p.parent_path() / (p.stem().string() + "_" + std::to_string(k) + p.extension().string())).string();
}

}  // namespace

CLI::App* add_segment_command(CLI::App& app, SegmentArgs& a) {
  auto* cmd = app.add_subcommand("segment", "Segment an image with a SAM checkpoint from point / box / mask prompts");
  cmd->add_option("-m,--model", a.model, "SAM model directory or weights file (.safetensors, .pth)")->required();
  cmd->add_option("--image", a.image, "Image file (PNG, JPEG, BMP, ...)")->required();
  cmd->add_option("--point", a.points, "X,Y[,LABEL] in image pixels; label 1 foreground (default) or 0 background; repeatable");
  cmd->add_option("--box", a.box, "X0,Y0,X1,Y1 in image pixels");
  cmd->add_flag("--multimask", a.multimask, "Three candidate masks instead of one");
  cmd->add_option("--mask-input", a.mask_input, "safetensors with F32 'mask_input' [1,1,256,256] (e.g. a previous --dump's low_res_logits)");
  cmd->add_option("-o,--output", a.output, "Best mask as a PNG (with --multimask also <name>_0..2)");
  cmd->add_option("--overlay", a.overlay, "The image with the best mask and the prompts drawn on it (PNG)");
  cmd->add_option("--dump", a.dump, "Raw tensors (image_embeddings, low_res_logits, iou_predictions, masks) as safetensors");
  cmd->add_option("--prompts", a.prompts, "JSON list of prompts run on the one encoded image");
  cmd->add_option("-t,--threads", a.threads, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  return cmd;
}

int run_segment(const SegmentArgs& a) {
  const ImageU8 image = read_image(a.image);
  std::vector<SamPrompt> prompts;
  std::vector<std::string> outputs;
  if (!a.prompts.empty()) {
    if (!a.points.empty() || !a.box.empty() || !a.mask_input.empty())
      fail("--prompts", "cannot be combined with --point, --box or --mask-input");
    const json list = read_ordered_json_file(a.prompts);
    if (!list.is_array() || list.empty()) fail(a.prompts, "must hold a non-empty JSON array of prompts");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string out;
      prompts.push_back(prompt_from_json(list[i], a.prompts + ": [" + std::to_string(i) + "]", out));
      outputs.push_back(out);
    }
  } else {
    SamPrompt p;
    for (const std::string& pt : a.points) parse_point(pt, p);
    if (!a.box.empty()) p.box = parse_box(a.box);
    if (!a.mask_input.empty()) p.mask_input = read_mask_input(a.mask_input);
    p.multimask = a.multimask;
    prompts.push_back(p);
    outputs.push_back(a.output);
  }
  for (size_t i = 0; i < prompts.size(); ++i) check_inside(prompts[i], image, prompts.size() > 1 ? "prompt " + std::to_string(i) : "prompt");

  const auto model = load_sam(a.model);
  ThreadPool pool(a.threads);
  SamPredictor predictor(*model, pool);
  const auto elapsed_ms = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  const auto t_encode = std::chrono::steady_clock::now();
  predictor.set_image(image);
  std::fprintf(stderr, "image encoded in %.1f ms (%d threads)\n", elapsed_ms(t_encode), pool.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto t_decode = std::chrono::steady_clock::now();
    const SamPrediction r = predictor.predict(prompts[i]);
    std::fprintf(stderr, "prompt %zu decoded in %.1f ms\n", i, elapsed_ms(t_decode));
    int64_t best = 0;
    for (int64_t k = 1; k < r.count; ++k)
      if (r.iou[size_t(k)] > r.iou[size_t(best)]) best = k;
    json line = {{"prompt", i}, {"iou_predictions", r.iou}, {"best", best}, {"width", r.width}, {"height", r.height}};
    std::vector<int64_t> areas;
    for (int64_t k = 0; k < r.count; ++k) {
      int64_t area = 0;
      for (int64_t j = 0; j < r.width * r.height; ++j) area += r.masks[size_t(k * r.width * r.height + j)];
      areas.push_back(area);
    }
    line["mask_pixels"] = areas;
    if (!outputs[i].empty()) {
      write_png(outputs[i], mask_png(r, best));
      if (r.count > 1)
        for (int64_t k = 0; k < r.count; ++k) write_png(numbered(outputs[i], k), mask_png(r, k));
      line["output"] = outputs[i];
    }
    if (!a.overlay.empty()) write_png(prompts.size() > 1 ? numbered(a.overlay, int64_t(i)) : a.overlay, overlay(image, r, best, prompts[i]));
    if (!a.dump.empty()) {
      std::vector<uint8_t> masks(r.masks);
      write_safetensors(prompts.size() > 1 ? numbered(a.dump, int64_t(i)) : a.dump,
                        {{"image_embeddings", DType::F32, {1, 256, 64, 64}, predictor.embedding().data(), predictor.embedding().size() * 4},
                         {"low_res_logits", DType::F32, {1, r.count, 256, 256}, r.low_res_logits.data(), r.low_res_logits.size() * 4},
                         {"iou_predictions", DType::F32, {1, r.count}, r.iou.data(), r.iou.size() * 4},
                         {"masks", DType::U8, {1, r.count, r.height, r.width}, masks.data(), masks.size()}});
    }
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}

}  // namespace edgerun::cli

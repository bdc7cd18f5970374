// Loading a SAM checkpoint and running it the way the official SamPredictor does: the image is
// encoded once (set_image), then any number of prompts reuse that embedding (predict).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/weight_store.h"
#include "media/image.h"
#include "models/sam.h"

namespace edgerun {

struct SamModel {
  WeightStore weights;
  SamConfig config;
  std::unique_ptr<SamImageEncoder> encoder;  // SAM ViT or MobileSAM TinyViT
  std::unique_ptr<SamPromptDecoder> decoder;
  std::string description;  // "SAM ViT (embed 768, depth 12, ...)"
};

// MODEL: a directory with config.json (the golden layout: "model_type": "sam", "variant" "vit" or
// "tiny_vit") and model.safetensors, or one weights file with the official tensor names
// (.safetensors, or a PyTorch .pth/.pt read without running any pickle code): a ViT encoder is
// read off the tensor shapes, a TinyViT one (by its names) gets MobileSAM's sizes.
std::unique_ptr<SamModel> load_sam(const std::string& path);
// Whether `path` is a SAM checkpoint (config.json says "sam", or the weights have an
// image_encoder and a mask_decoder); false for anything else, including unreadable paths.
bool is_sam_model(const std::string& path);

// The predictor's set_image: resize (long side 1024, PIL bilinear), normalise, pad, encode.
// Returns the [256, 64, 64] embedding and sets `geometry`.
std::vector<float> sam_encode_image(const SamModel& model, const ImageU8& image, SamImageGeometry& geometry, ThreadPool& pool);

class SamPredictor {
 public:
  SamPredictor(const SamModel& model, ThreadPool& pool) : model_(model), pool_(pool) {}
  // Resizes (long side 1024, PIL bilinear), normalises, pads and encodes the image.
  void set_image(const ImageU8& image);
  SamPrediction predict(const SamPrompt& prompt) const;
  // [256, 64, 64] of the current image.
  const std::vector<float>& embedding() const { return embedding_; }
  const SamImageGeometry& geometry() const { return geometry_; }

 private:
  const SamModel& model_;
  ThreadPool& pool_;
  std::vector<float> embedding_;
  SamPromptDecoder::ImageSide image_side_;  // the decoder's prompt-independent part, per image
  SamImageGeometry geometry_;
};

}  // namespace edgerun

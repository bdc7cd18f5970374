// Vision-language prompts (SmolVLM / SmolVLM2): conversations with image parts are rendered by
// the model's chat template, each `<image>` expands into its tiles' markers and image tokens,
// and the tiles' features replace those tokens' embedding rows before the decoder runs.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "media/image.h"
#include "runtime/model_loader.h"

namespace edgerun {

// An image after the processor, with the vision tower's features for each of its tiles.
struct EncodedImage {
  uint64_t key = 0;             // content hash of the pixels and size
  ProcessedImage processed;
  std::vector<float> features;  // [n_tiles, image_seq_len, text hidden]
  double preprocess_seconds = 0, tower_seconds = 0;  // how long the encoding took
};

// Encodes images, remembering the last few by content so that an image seen again in the same
// conversation (every turn re-sends it) is not run through the vision tower twice. Thread-safe.
class ImageFeatureCache {
 public:
  explicit ImageFeatureCache(size_t capacity = 8) : capacity_(capacity) {}
  std::shared_ptr<const EncodedImage> encode(const VisionModel& vision, const ImageU8& image, ThreadPool& pool);
  size_t hits() const { return hits_; }

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::list<std::shared_ptr<const EncodedImage>> recent_;  // most recent first
  size_t hits_ = 0;
};

// Runs the processor and the vision tower on one image (no caching).
std::shared_ptr<const EncodedImage> encode_image(const VisionModel& vision, const ImageU8& image, ThreadPool& pool);

// Where a conversation's media come from, in order of appearance.
struct MediaRef {
  enum class Kind { kImage, kVideo } kind = Kind::kImage;
  std::string url;  // image_url / video_url of an OpenAI part; empty for a bare {"type": "image"}
};

// Puts OpenAI- or HF-style messages into the shape SmolVLM's chat template reads: string contents
// become [{"type": "text", ...}], `image_url` parts become {"type": "image"} (and `video_url` /
// `video` parts {"type": "video"}); returns the media in order. Errors name `where` and the part.
std::vector<MediaRef> normalise_vision_messages(nlohmann::ordered_json& messages, const std::string& where);

struct MultimodalPrompt {
  std::vector<int32_t> ids;
  std::vector<float> embeddings;  // [ids, hidden] with image features merged in
  std::vector<uint64_t> media_keys;  // one per image, for prompt-cache keys
};

// Tokenizes a rendered prompt whose k-th `<image>` stands for images[k], and builds the decoder's
// input rows. Errors when the numbers of placeholders and images differ.
MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<std::shared_ptr<const EncodedImage>>& images);

}  // namespace edgerun

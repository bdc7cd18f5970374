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
#include "media/video.h"
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

// A video's sampled frames (SmolVLM2's video sampling), each a single global tile, with the
// vision tower's features; the frames themselves are not kept.
struct EncodedVideo {
  uint64_t key = 0;  // content hash of the features
  VideoInfo info;
  std::vector<double> timestamps;  // seconds, one per frame
  std::vector<float> features;     // [frames, image_seq_len, text hidden]
  double seconds = 0;              // decoding + preprocessing + vision tower
  int64_t frames() const { return int64_t(timestamps.size()); }
};

// One image or one video of a conversation, in order.
struct EncodedMedia {
  std::shared_ptr<const EncodedImage> image;
  std::shared_ptr<const EncodedVideo> video;
};

// Decodes the sampled frames of a video one at a time and runs each through the vision tower.
std::shared_ptr<const EncodedVideo> encode_video(const VisionModel& vision, const std::string& path, ThreadPool& pool);

// The text a `<video>` placeholder becomes (SmolVLM2's processor): an introduction naming the
// frame count in words and the duration, each frame's timestamp and image block, a blank line.
std::string video_prompt(const EncodedVideo& video, int64_t image_seq_len);

// Cardinal numbers in English words as num2words writes them ("sixty-four", "one hundred and
// five"), 0..999999.
std::string number_in_words(int64_t n);

// The chat template for a conversation: the model's, unless the conversation has video parts
// and the model's template has no notion of video — then SmolVLM2's processor default, as
// transformers does.
std::string vision_chat_template(const std::string& model_template, bool has_video);

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

// Tokenizes a rendered prompt whose k-th `<image>` / `<video>` placeholder stands for media[k],
// and builds the decoder's input rows. Errors when placeholders and media do not match.
MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<EncodedMedia>& media);
// Images only.
MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<std::shared_ptr<const EncodedImage>>& images);

}  // namespace edgerun

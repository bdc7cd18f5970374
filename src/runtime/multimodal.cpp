#include "runtime/multimodal.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/hash.h"

namespace edgerun {

namespace {

constexpr std::string_view kImagePlaceholder = "<image>", kVideoPlaceholder = "<video>";

uint64_t image_key(const ImageU8& image) {
  const int64_t dims[3] = {image.width, image.height, image.channels};
  return fnv1a64(image.pixels.data(), image.pixels.size(), fnv1a64(dims, sizeof dims));
}

}  // namespace

std::shared_ptr<const EncodedImage> encode_image(const VisionModel& vision, const ImageU8& image, ThreadPool& pool) {
  if (!vision.tower) fail("image", "the model was opened without its vision weights");
  auto out = std::make_shared<EncodedImage>();
  out->key = image_key(image);
  const auto t0 = std::chrono::steady_clock::now();
  out->processed = idefics3_preprocess(image, vision.processor);
  const auto t1 = std::chrono::steady_clock::now();
  const int64_t T = vision.config.tokens_per_tile(), H = vision.config.text_hidden, n = out->processed.n_tiles();
  out->features.resize(size_t(n * T * H));
  for (int64_t i = 0; i < n; i += Idefics3Vision::kTileBatch)
    vision.tower->tile_features(out->processed.tile(i), std::min(Idefics3Vision::kTileBatch, n - i),
                                out->features.data() + i * T * H, pool);
  out->preprocess_seconds = std::chrono::duration<double>(t1 - t0).count();
  out->tower_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return out;
}

std::shared_ptr<const EncodedImage> ImageFeatureCache::encode(const VisionModel& vision, const ImageU8& image, ThreadPool& pool) {
  const uint64_t key = image_key(image);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = recent_.begin(); it != recent_.end(); ++it)
      if ((*it)->key == key) {
        auto hit = *it;
        recent_.erase(it);
        recent_.push_front(hit);
        ++hits_;
        return hit;
      }
  }
  auto encoded = encode_image(vision, image, pool);
  std::lock_guard<std::mutex> lock(mutex_);
  recent_.push_front(encoded);
  if (recent_.size() > capacity_) recent_.pop_back();
  return encoded;
}

std::vector<MediaRef> normalise_vision_messages(nlohmann::ordered_json& messages, const std::string& where) {
  using ojson = nlohmann::ordered_json;
  std::vector<MediaRef> media;
  if (!messages.is_array()) fail(where, "messages must be a list");
  for (size_t i = 0; i < messages.size(); ++i) {
    ojson& m = messages[i];
    const std::string at = where + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object()) fail(at, "expected an object");
    if (!m.contains("content") || m["content"].is_null()) {
      m["content"] = ojson::array();
      continue;
    }
    ojson& content = m["content"];
    if (content.is_string()) {
      content = ojson::array({{{"type", "text"}, {"text", content.get<std::string>()}}});
      continue;
    }
    if (!content.is_array()) fail(at + ".content", "expected a string or a list of parts");
    for (size_t j = 0; j < content.size(); ++j) {
      ojson& part = content[j];
      const std::string pat = at + ".content[" + std::to_string(j) + "]";
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
        fail(pat, "expected an object with a string \"type\"");
      const std::string type = part["type"].get<std::string>();
      const auto url_of = [&](const char* key) -> std::string {
        if (!part.contains(key)) return "";
        const ojson& u = part[key];
        if (u.is_string()) return u.get<std::string>();
        if (u.is_object() && u.contains("url") && u["url"].is_string()) return u["url"].get<std::string>();
        fail(pat + "." + key, "expected a string or an object with a string \"url\"");
      };
      if (type == "text") {
        if (!part.contains("text") || !part["text"].is_string()) fail(pat, "a text part needs a string \"text\"");
      } else if (type == "image" || type == "image_url") {
        media.push_back({MediaRef::Kind::kImage, url_of(type == "image" ? "image" : "image_url")});
        part = ojson{{"type", "image"}};
      } else if (type == "video" || type == "video_url") {
        media.push_back({MediaRef::Kind::kVideo, url_of(type == "video" ? "video" : "video_url")});
        part = ojson{{"type", "video"}};
      } else {
        fail(pat, "unsupported content part type '" + type + "' (text, image, image_url, video, video_url)");
      }
    }
  }
  return media;
}

std::shared_ptr<const EncodedVideo> encode_video(const VisionModel& vision, const std::string& path, ThreadPool& pool) {
  if (!vision.tower) fail("video", "the model was opened without its vision weights");
  const auto t0 = std::chrono::steady_clock::now();
  auto out = std::make_shared<EncodedVideo>();
  const VideoInfo info = probe_video(path);
  const VideoSampling sampling{vision.processor.video_fps, vision.processor.video_max_frames, 1.0};
  const std::vector<int64_t> indices = sample_frame_indices(info.frame_count, info.fps, info.duration, sampling);
  const int64_t T = vision.config.tokens_per_tile(), H = vision.config.text_hidden;
  out->info = decode_video_frames(path, indices, [&](VideoFrame&& frame) {
    const ProcessedImage tile = idefics3_preprocess_frame(frame.image, vision.processor);
    out->features.resize(out->features.size() + size_t(T * H));
    vision.tower->tile_features(tile.tile(0), 1, out->features.data() + out->features.size() - size_t(T * H), pool);
    out->timestamps.push_back(frame.timestamp);
  });
  out->key = fnv1a64(out->features.data(), out->features.size() * sizeof(float));
  out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::string number_in_words(int64_t n) {
  static const char* kSmall[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                 "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                                 "nineteen"};
  static const char* kTens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
  if (n < 0 || n > 999999) fail("number_in_words", "out of range");
  if (n < 20) return kSmall[n];
  if (n < 100) return std::string(kTens[n / 10]) + (n % 10 ? std::string("-") + kSmall[n % 10] : "");
  if (n < 1000) return std::string(kSmall[n / 100]) + " hundred" + (n % 100 ? " and " + number_in_words(n % 100) : "");
  const int64_t rest = n % 1000;
  return number_in_words(n / 1000) + " thousand" + (rest == 0 ? "" : rest < 100 ? " and " + number_in_words(rest) : ", " + number_in_words(rest));
}

std::string video_prompt(const EncodedVideo& video, int64_t image_seq_len) {
  const int64_t seconds = int64_t(video.info.duration);  // int(duration), then timedelta's H:MM:SS
  char duration[32];
  std::snprintf(duration, sizeof duration, "%lld:%02lld:%02lld", (long long)(seconds / 3600), (long long)(seconds / 60 % 60),
                (long long)(seconds % 60));
  std::string s = "You are provided the following series of " + number_in_words(video.frames()) + " frames from a " +
                  duration + " [H:MM:SS] video.\n";
  const std::string frame_block = idefics3_image_prompt(0, 0, image_seq_len);
  for (double t : video.timestamps) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%02lld:%02lld", (long long)(int64_t(t) / 60), (long long)(int64_t(t) % 60));
    s += std::string("\nFrame from ") + stamp + ":" + frame_block;
  }
  return s + "\n\n";
}

std::string vision_chat_template(const std::string& model_template, bool has_video) {
  if (!has_video || model_template.find("video") != std::string::npos) return model_template;
  // SmolVLM2's processor default (transformers' DEFAULT_CHAT_TEMPLATE for videos).
  return "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
         "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
         "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
         "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
         "{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";
}

MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<EncodedMedia>& media) {
  if (!model.vision) fail("prompt", "this model has no vision tower: images and videos are not supported");
  const VisionModel& vision = *model.vision;
  const int64_t T = vision.config.tokens_per_tile(), H = model.config.hidden_size;
  // Expand the placeholders in order; each must match the kind of the next medium.
  std::string expanded;
  size_t from = 0, k = 0;
  for (;;) {
    const size_t img = rendered.find(kImagePlaceholder, from), vid = rendered.find(kVideoPlaceholder, from);
    const size_t at = std::min(img, vid);
    if (at == std::string::npos) break;
    const bool is_video = at == vid;
    if (k >= media.size())
      fail("prompt", "the conversation has more images or videos than were given (" + std::to_string(media.size()) + ")");
    if (is_video != bool(media[k].video))
      fail("prompt", "medium " + std::to_string(k + 1) + " is " + (media[k].video ? "a video" : "an image") +
                         " but its place in the conversation is " + (is_video ? "a video part" : "an image part"));
    expanded.append(rendered, from, at - from);
    expanded += is_video ? video_prompt(*media[k].video, T)
                         : idefics3_image_prompt(media[k].image->processed.rows, media[k].image->processed.cols, T);
    from = at + (is_video ? kVideoPlaceholder.size() : kImagePlaceholder.size());
    ++k;
  }
  expanded.append(rendered, from);
  if (k != media.size())
    fail("prompt", std::to_string(media.size()) + " images/videos were given but the conversation has " + std::to_string(k) +
                       " image or video parts");

  MultimodalPrompt p;
  p.ids = model.require_tokenizer().encode(expanded, false);
  const int64_t n = int64_t(p.ids.size());
  // The feature rows in prompt order.
  std::vector<std::pair<const float*, int64_t>> blocks;  // (rows, count)
  int64_t feature_rows = 0;
  for (const EncodedMedia& m : media) {
    const int64_t rows = m.video ? m.video->frames() * T : m.image->processed.n_tiles() * T;
    blocks.push_back({m.video ? m.video->features.data() : m.image->features.data(), rows});
    p.media_keys.push_back(m.video ? m.video->key : m.image->key);
    feature_rows += rows;
  }
  int64_t image_tokens = 0;
  for (int32_t id : p.ids) image_tokens += id == vision.config.image_token_id;
  if (image_tokens != feature_rows)
    fail("prompt", "the tokenized prompt has " + std::to_string(image_tokens) + " image tokens for " +
                       std::to_string(feature_rows) + " image feature rows (does the tokenizer know <image>?)");
  if (!model.model) fail("prompt", "the model was opened without weights");
  p.embeddings.resize(size_t(n * H));
  model.model->embed_tokens(p.ids.data(), n, p.embeddings.data());
  size_t block = 0;
  int64_t row = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (p.ids[size_t(t)] != vision.config.image_token_id) continue;
    while (row == blocks[block].second) ++block, row = 0;
    std::copy_n(blocks[block].first + row * H, H, p.embeddings.data() + t * H);
    ++row;
  }
  return p;
}

MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<std::shared_ptr<const EncodedImage>>& images) {
  std::vector<EncodedMedia> media;
  for (const auto& img : images) media.push_back({img, nullptr});
  return build_multimodal_prompt(model, rendered, media);
}

}  // namespace edgerun

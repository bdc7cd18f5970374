#include "runtime/multimodal.h"

#include <chrono>

#include "core/error.h"
#include "core/hash.h"

namespace edgerun {

namespace {

constexpr std::string_view kImagePlaceholder = "<image>";

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
  for (int64_t i = 0; i < n; ++i) vision.tower->tile_features(out->processed.tile(i), out->features.data() + i * T * H, pool);
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

MultimodalPrompt build_multimodal_prompt(const LoadedModel& model, const std::string& rendered,
                                         const std::vector<std::shared_ptr<const EncodedImage>>& images) {
  if (!model.vision) fail("prompt", "this model has no vision tower: images are not supported");
  const VisionModel& vision = *model.vision;
  const int64_t T = vision.config.tokens_per_tile(), H = model.config.hidden_size;
  // Expand the placeholders in order.
  std::string expanded;
  size_t from = 0, k = 0;
  for (size_t at; (at = rendered.find(kImagePlaceholder, from)) != std::string::npos; from = at + kImagePlaceholder.size()) {
    if (k >= images.size())
      fail("prompt", "the conversation has more images than were given (" + std::to_string(images.size()) + ")");
    expanded.append(rendered, from, at - from);
    expanded += idefics3_image_prompt(images[k]->processed.rows, images[k]->processed.cols, T);
    ++k;
  }
  expanded.append(rendered, from);
  if (k != images.size())
    fail("prompt", std::to_string(images.size()) + " images were given but the conversation has " + std::to_string(k) +
                       " image parts");

  MultimodalPrompt p;
  p.ids = model.require_tokenizer().encode(expanded, false);
  const int64_t n = int64_t(p.ids.size());
  int64_t feature_rows = 0;
  for (const auto& img : images) {
    feature_rows += img->processed.n_tiles() * T;
    p.media_keys.push_back(img->key);
  }
  int64_t image_tokens = 0;
  for (int32_t id : p.ids) image_tokens += id == vision.config.image_token_id;
  if (image_tokens != feature_rows)
    fail("prompt", "the tokenized prompt has " + std::to_string(image_tokens) + " image tokens for " +
                       std::to_string(feature_rows) + " image feature rows (does the tokenizer know <image>?)");
  if (!model.model) fail("prompt", "the model was opened without weights");
  p.embeddings.resize(size_t(n * H));
  model.model->embed_tokens(p.ids.data(), n, p.embeddings.data());
  size_t image = 0;
  int64_t row_in_image = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (p.ids[size_t(t)] != vision.config.image_token_id) continue;
    while (row_in_image == images[image]->processed.n_tiles() * T) {
      ++image;
      row_in_image = 0;
    }
    std::copy_n(images[image]->features.data() + row_in_image * H, H, p.embeddings.data() + t * H);
    ++row_in_image;
  }
  return p;
}

}  // namespace edgerun

// Vision-language commands (SmolVLM / SmolVLM2): `edgerun describe` answers a question about
// images, and `edgerun logits --messages conv.json --image A ...` dumps everything a parity check
// needs (input ids, pixel values, image features, logits at every position).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "cli/common.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "runtime/generate.h"
#include "runtime/multimodal.h"
#include "text/chat_template.h"

namespace edgerun::cli {

namespace {

struct VisionPrompt {
  std::vector<std::shared_ptr<const EncodedImage>> images;
  std::vector<EncodedMedia> media;
  MultimodalPrompt prompt;
};

// Renders `messages` with the model's chat template; each image part takes the next of
// `image_paths` in order, each video part the next of `video_paths`.
VisionPrompt prepare(const LoadedModel& m, const std::string& model_path, nlohmann::ordered_json messages,
                     const std::vector<std::string>& image_paths, const std::vector<std::string>& video_paths,
                     bool add_generation_prompt, const std::string& where, ThreadPool& pool) {
  if (!m.vision) fail(model_path.empty() ? kDefaultModelName : model_path, "is not a vision-language model (expected a SmolVLM directory)");
  const std::vector<MediaRef> refs = normalise_vision_messages(messages, where);
  size_t next_image = 0, next_video = 0;
  VisionPrompt out;
  for (const MediaRef& ref : refs) {
    if (!ref.url.empty()) fail(where, "media parts must not carry a URL here; give the files with --image / --video in order");
    if (ref.kind == MediaRef::Kind::kVideo) {
      if (next_video >= video_paths.size())
        fail(where, "the conversation has more video parts than --video files (" + std::to_string(video_paths.size()) + ")");
      out.media.push_back({nullptr, encode_video(*m.vision, video_paths[next_video++], pool)});
      continue;
    }
    if (next_image >= image_paths.size())
      fail(where, "the conversation has more image parts than --image files (" + std::to_string(image_paths.size()) + ")");
    out.images.push_back(encode_image(*m.vision, read_image(image_paths[next_image++]), pool));
    out.media.push_back({out.images.back(), nullptr});
  }
  if (next_image != image_paths.size())
    fail("--image", std::to_string(image_paths.size()) + " images given but the conversation has " +
                        std::to_string(next_image) + " image parts");
  if (next_video != video_paths.size())
    fail("--video", std::to_string(video_paths.size()) + " videos given but the conversation has " +
                        std::to_string(next_video) + " video parts");
  const ModelChatTemplate found = model_chat_template(model_path, m);
  ChatTemplateInput input;
  input.messages = std::move(messages);
  input.add_generation_prompt = add_generation_prompt;
  input.special_tokens = found.special_tokens;
  const std::string source = vision_chat_template(found.source, next_video > 0);
  const std::string rendered = ChatTemplate(source, "chat template (" + found.origin + ")").render(input);
  out.prompt = build_multimodal_prompt(m, rendered, out.media);
  return out;
}

}  // namespace

int run_messages_logits(const MessagesLogitsArgs& a) {
  LoadOptions load;
  load.mmproj = a.mmproj;
  LoadedModel m = open_model(a.model, load);
  ThreadPool pool(a.threads);
  nlohmann::ordered_json conversation = read_ordered_json_file(a.messages);
  if (conversation.is_object() && conversation.contains("messages")) conversation = conversation["messages"];
  const VisionPrompt vp = prepare(m, a.model, conversation, a.images, {}, a.add_generation_prompt, a.messages, pool);
  const std::vector<int32_t>& ids = vp.prompt.ids;
  const int64_t n = int64_t(ids.size()), vocab = m.config.vocab_size;
  const int64_t ctx = a.ctx > 0 ? a.ctx : n;
  if (n > ctx || n > m.config.max_position_embeddings)
    fail("input", std::to_string(n) + " tokens are longer than the context (" +
                      std::to_string(std::min(ctx, m.config.max_position_embeddings)) + ")");
  LlamaState state = m.model->new_state(ctx, DType::F32);  // parity tool: no cache rounding
  std::vector<float> logits(size_t(n * vocab));
  m.model->forward(ids.data(), n, state, pool, logits.data(), true, vp.prompt.embeddings.data());

  std::vector<int64_t> ids64(ids.begin(), ids.end());
  std::vector<TensorToWrite> out = {{"input_ids", DType::I64, {n}, ids64.data(), ids64.size() * sizeof(int64_t)}};
  std::vector<std::string> names;  // keep the names alive
  names.reserve(vp.images.size() * 2);
  const int64_t T = m.vision->config.tokens_per_tile(), H = m.config.hidden_size;
  for (size_t k = 0; k < vp.images.size(); ++k) {
    const EncodedImage& img = *vp.images[k];
    const int64_t tiles = img.processed.n_tiles(), M = img.processed.tile_size;
    const std::string base = "image" + std::to_string(k + 1);
    out.push_back({base + ".pixel_values", DType::F32, {tiles, 3, M, M}, img.processed.pixels.data(), img.processed.pixels.size() * 4});
    out.push_back({base + ".features", DType::F32, {tiles, T, H}, img.features.data(), img.features.size() * 4});
  }
  out.push_back({"logits", DType::F32, {n, vocab}, logits.data(), logits.size() * sizeof(float)});
  write_safetensors(a.output, out);
  std::fprintf(stderr, "edgerun: %lld tokens (%zu images), wrote logits [%lld, %lld] to %s\n", (long long)n,
               vp.images.size(), (long long)n, (long long)vocab, a.output.c_str());
  return 0;
}

CLI::App* add_describe_command(CLI::App& app, DescribeArgs& a) {
  auto* cmd = app.add_subcommand("describe", "Answer a question about images with a vision-language model (SmolVLM)");
  cmd->add_option("-m,--model", a.model, "SmolVLM / SmolVLM2 model directory, or a text GGUF with --mmproj")->required();
  cmd->add_option("--mmproj", a.mmproj, "The vision tower GGUF of a GGUF text model (llama.cpp's mmproj file)");
  cmd->add_option("--image", a.images, "Image file (PNG, JPEG, BMP, GIF); repeat for several");
  cmd->add_option("--video", a.videos, "Video file (any container and codec FFmpeg decodes); frames sampled as SmolVLM2 does");
  cmd->add_option("-p,--prompt", a.prompt, "Question (default: describe the image)");
  cmd->add_option("--system", a.system, "System prompt");
  cmd->add_option("-n,--n-predict", a.n_predict, "Maximum tokens in the answer (default 256)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", a.temp, "Temperature; 0 = greedy (default: generation_config.json, else 0.8)");
  cmd->add_option("--seed", a.seed, "Random seed (default: random)");
  cmd->add_option("-c,--ctx", a.ctx, "Context size in tokens (default: the model's, at most 8192)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", a.threads, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  return cmd;
}

int run_describe(const DescribeArgs& a) {
  LoadOptions load;
  load.mmproj = a.mmproj;
  LoadedModel m = open_model(a.model, load);
  ThreadPool pool(a.threads);
  using ojson = nlohmann::ordered_json;
  if (a.images.empty() && a.videos.empty()) fail("describe", "give at least one --image or --video");
  ojson content = ojson::array();
  for (size_t i = 0; i < a.images.size(); ++i) content.push_back({{"type", "image"}});
  for (size_t i = 0; i < a.videos.size(); ++i) content.push_back({{"type", "video"}});
  const std::string question = !a.prompt.empty()                          ? a.prompt
                               : !a.videos.empty()                        ? "Describe this video."
                               : a.images.size() == 1                     ? "Describe this image."
                                                                          : "Describe these images.";
  content.push_back({{"type", "text"}, {"text", question}});
  ojson messages = ojson::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  messages.push_back({{"role", "user"}, {"content", content}});
  const auto t0 = std::chrono::steady_clock::now();
  const VisionPrompt vp = prepare(m, a.model, messages, a.images, a.videos, true, "describe", pool);
  const double vision_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const int64_t n = int64_t(vp.prompt.ids.size());
  const int64_t context = a.ctx > 0 ? a.ctx : std::min<int64_t>(m.config.max_position_embeddings, 8192);
  if (n >= context)
    fail("prompt", "has " + std::to_string(n) + " tokens with its images, more than the context of " +
                       std::to_string(context) + " tokens (raise --ctx or give fewer images)");
  LlamaState state = m.model->new_state(context);
  GenerateOptions opt;
  opt.max_tokens = std::min<int64_t>(a.n_predict, context - n);
  opt.sampling = m.generation_defaults.value_or(SamplerParams{});
  if (a.temp >= 0) opt.sampling.temperature = a.temp;
  opt.sampling.seed = a.seed >= 0 ? uint64_t(a.seed) : std::random_device{}();
  check_sampler_params(opt.sampling);
  opt.eos_ids = m.eos_ids;
  opt.prompt_embeddings = vp.prompt.embeddings.data();
  const GenerateResult res = generate_to_stdout(m, state, pool, vp.prompt.ids, opt);
  std::fputc('\n', stdout);
  size_t tiles = 0;
  double preprocess_s = 0, tower_s = 0;
  for (const auto& img : vp.images) {
    tiles += size_t(img->processed.n_tiles());
    preprocess_s += img->preprocess_seconds;
    tower_s += img->tower_seconds;
  }
  for (const EncodedMedia& md : vp.media)
    if (md.video)
      std::fprintf(stderr, "edgerun: video %dx%d, %.1f s at %.2f fps: %lld frames sampled and encoded in %.2f s\n",
                   md.video->info.width, md.video->info.height, md.video->info.duration, md.video->info.fps,
                   (long long)md.video->frames(), md.video->seconds);
  std::fprintf(stderr,
               "edgerun: %zu images (%zu tiles) encoded in %.2f s (preprocessing %.2f s, vision tower %.1f ms/tile) | "
               "prompt %lld tokens in %.2f s | time to first token %.2f s | %zu tokens at %.1f tok/s | stop: %s\n",
               vp.images.size(), tiles, vision_s, preprocess_s, tiles ? 1e3 * tower_s / double(tiles) : 0.0, (long long)n,
               res.prompt_seconds, vision_s + res.prompt_seconds, res.tokens.size(),
               res.generate_seconds > 0 ? double(res.tokens.size()) / res.generate_seconds : 0.0, res.stop_reason.c_str());
  return 0;
}

}  // namespace edgerun::cli

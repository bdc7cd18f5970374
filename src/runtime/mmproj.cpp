#include "runtime/mmproj.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "kernels/matmul.h"

namespace edgerun {

namespace {

constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1;

// (Hugging Face name, mmproj name) of every tensor of an Idefics3 vision tower with `layers` layers.
std::vector<std::pair<std::string, std::string>> mmproj_names(int64_t layers) {
  std::vector<std::pair<std::string, std::string>> names;
  const std::string v = "model.vision_model.";
  for (const char* s : {"weight", "bias"}) names.push_back({v + "embeddings.patch_embedding." + s, std::string("v.patch_embd.") + s});
  names.push_back({v + "embeddings.position_embedding.weight", "v.position_embd.weight"});
  static const std::pair<const char*, const char*> kLayer[] = {
      {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
      {"self_attn.out_proj", "attn_out"}, {"layer_norm1", "ln1"}, {"layer_norm2", "ln2"},
      {"mlp.fc1", "ffn_up"}, {"mlp.fc2", "ffn_down"}};
  for (int64_t i = 0; i < layers; ++i)
    for (const auto& [hf, gg] : kLayer)
      for (const char* s : {"weight", "bias"})
        names.push_back({v + "encoder.layers." + std::to_string(i) + "." + hf + "." + s,
                         "v.blk." + std::to_string(i) + "." + gg + "." + s});
  for (const char* s : {"weight", "bias"}) names.push_back({v + "post_layernorm." + s, std::string("v.post_ln.") + s});
  names.push_back({"model.connector.modality_projection.proj.weight", "mm.model.fc.weight"});
  return names;
}

}  // namespace

void write_idefics3_mmproj(const std::string& dir, const std::string& out_path, bool f32_matrices) {
  const std::string config_file = dir + "/config.json";
  const json config = read_json_file(config_file);
  if (!is_idefics3_config(config)) fail(config_file, "not a SmolVLM (idefics3 / smolvlm) config");
  const Idefics3Config cfg = idefics3_config_from_hf(config, config_file);
  const Idefics3ProcessorConfig proc = idefics3_processor_config(dir, cfg.vision.image_size, cfg.tokens_per_tile());
  WeightStore weights;
  const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    for (SafetensorsFile& f : read_safetensors_index(index)) weights.add(f.tensors, f.storage, index);
  } else {
    SafetensorsFile f = read_safetensors(single);
    weights.add(f.tensors, f.storage, single);
  }
  Idefics3Vision check(cfg, weights);  // every tensor present with its shape

  GgufWriter w;
  w.set_string("general.architecture", "clip");
  w.set_string("general.type", "mmproj");
  w.set_u32("general.file_type", f32_matrices ? 0 : 1);  // all F32 / mostly F16
  w.set_bool("clip.has_vision_encoder", true);
  w.set_string("clip.projector_type", "idefics3");
  w.set_bool("clip.use_gelu", true);
  w.set_u32("clip.vision.projection_dim", uint32_t(cfg.text_hidden));
  w.set_u32("clip.vision.image_size", uint32_t(cfg.vision.image_size));
  w.set_u32("clip.vision.patch_size", uint32_t(cfg.vision.patch_size));
  w.set_u32("clip.vision.embedding_length", uint32_t(cfg.vision.hidden_size));
  w.set_u32("clip.vision.feed_forward_length", uint32_t(cfg.vision.intermediate_size));
  w.set_u32("clip.vision.block_count", uint32_t(cfg.vision.n_layers));
  w.set_u32("clip.vision.attention.head_count", uint32_t(cfg.vision.n_heads));
  w.set_f32("clip.vision.attention.layer_norm_epsilon", float(cfg.vision.layer_norm_eps));
  w.set_u32("clip.vision.projector.scale_factor", uint32_t(cfg.scale_factor));
  w.set_u32("clip.vision.preproc_image_size", uint32_t(proc.longest_edge));
  w.set_f32_array("clip.vision.image_mean", {proc.mean[0], proc.mean[1], proc.mean[2]});
  w.set_f32_array("clip.vision.image_std", {proc.std[0], proc.std[1], proc.std[2]});

  std::vector<std::pair<const Tensor*, uint32_t>> items;
  for (const auto& [hf, gg] : mmproj_names(cfg.vision.n_layers)) {
    const Tensor& t = weights.get(hf);
    // Matrices and the patch kernel in F16 (as llama.cpp's converter); everything else F32.
    const bool f16 = !f32_matrices && t.shape.size() >= 2 && gg != "v.position_embd.weight";
    std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
    w.add_tensor(gg, f16 ? kGgmlF16 : kGgmlF32, ne);
    items.push_back({&t, f16 ? kGgmlF16 : kGgmlF32});
  }
  const std::string tmp = out_path + ".tmp";
  w.open(tmp);
  for (const auto& [t, type] : items) {
    const int64_t cols = t->shape.back(), rows = t->numel() / cols;
    std::vector<float> row(static_cast<size_t>(cols));
    std::vector<uint16_t> half(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      to_f32(t->dtype, t->data + size_t(r) * t->row_bytes(), row.data(), cols);
      if (type == kGgmlF32) {
        w.write_data(row.data(), row.size() * 4);
      } else {
        for (int64_t i = 0; i < cols; ++i) half[size_t(i)] = f32_to_f16(row[size_t(i)]);
        w.write_data(half.data(), half.size() * 2);
      }
    }
  }
  w.finish();
  std::filesystem::rename(tmp, out_path);
}

std::unique_ptr<VisionModel> load_idefics3_mmproj(const std::string& path, const Tokenizer& tokenizer) {
  auto gguf = GgufFile::open(path);
  if (gguf.get_string_or("general.architecture", "") != "clip")
    fail(path, "not a vision projector (mmproj) GGUF: general.architecture is not 'clip'");
  const std::string projector = gguf.get_string_or("clip.projector_type", "");
  if (projector != "idefics3")
    fail(path, "projector type '" + projector + "' is not supported (supported: idefics3, SmolVLM)");
  auto vm = std::make_unique<VisionModel>();
  Idefics3Config& c = vm->config;
  c.model_type = "idefics3";
  c.vision.hidden_size = gguf.get_int("clip.vision.embedding_length");
  c.vision.n_layers = gguf.get_int("clip.vision.block_count");
  c.vision.n_heads = gguf.get_int("clip.vision.attention.head_count");
  c.vision.intermediate_size = gguf.get_int("clip.vision.feed_forward_length");
  c.vision.patch_size = gguf.get_int("clip.vision.patch_size");
  c.vision.image_size = gguf.get_int("clip.vision.image_size");
  c.vision.layer_norm_eps = gguf.get_float_or("clip.vision.attention.layer_norm_epsilon", 1e-6);
  c.scale_factor = gguf.get_int_or("clip.vision.projector.scale_factor", 2);
  c.text_hidden = gguf.get_int("clip.vision.projection_dim");
  const auto positive = [&](int64_t x, const char* key) {
    if (x <= 0 || x > (int64_t(1) << 20)) fail(path, std::string("metadata '") + key + "' must be a positive size");
  };
  positive(c.vision.hidden_size, "clip.vision.embedding_length");
  positive(c.vision.n_layers, "clip.vision.block_count");
  positive(c.vision.n_heads, "clip.vision.attention.head_count");
  positive(c.vision.patch_size, "clip.vision.patch_size");
  positive(c.vision.image_size, "clip.vision.image_size");
  positive(c.scale_factor, "clip.vision.projector.scale_factor");
  if (c.vision.hidden_size % c.vision.n_heads != 0 || c.vision.image_size < c.vision.patch_size ||
      c.vision.grid() % c.scale_factor != 0)
    fail(path, "inconsistent vision sizes (hidden / heads, image < patch, grid / scale factor)");
  const std::vector<int32_t> image_ids = tokenizer.encode("<image>", false);
  if (image_ids.size() != 1) fail(path, "the text model's tokenizer has no <image> token");
  c.image_token_id = image_ids[0];

  Idefics3ProcessorConfig& p = vm->processor;
  p.tile_size = c.vision.image_size;
  p.image_seq_len = c.tokens_per_tile();
  p.longest_edge = gguf.get_int_or("clip.vision.preproc_image_size", 4 * c.vision.image_size);
  if (p.longest_edge <= 0 || p.longest_edge > 4096) fail(path, "clip.vision.preproc_image_size must be in 1..4096");
  for (const char* key : {"clip.vision.image_mean", "clip.vision.image_std"}) {
    const GgufValue* v = gguf.find(key);
    if (!v) continue;
    if (v->type != GgufType::ARRAY || v->array.size() != 3) fail(path, std::string("metadata '") + key + "' must hold 3 numbers");
    for (int i = 0; i < 3; ++i) (key[12] == 'm' ? p.mean : p.std)[i] = float(v->array[size_t(i)].as_float(key));
  }
  for (float s : p.std)
    if (!(s > 0)) fail(path, "clip.vision.image_std must be positive");

  vm->weights = std::make_unique<WeightStore>();
  vm->weights->add(gguf.tensors(), gguf.storage(), path);
  std::map<std::string, std::string> hf_of;
  for (const auto& [hf, gg] : mmproj_names(c.vision.n_layers)) hf_of[gg] = hf;
  vm->weights->rename([&](const std::string& name) {
    const auto it = hf_of.find(name);
    return it == hf_of.end() ? std::string() : it->second;  // tensors of other projectors: dropped
  });
  vm->tower = std::make_unique<Idefics3Vision>(c, *vm->weights);
  return vm;
}

}  // namespace edgerun

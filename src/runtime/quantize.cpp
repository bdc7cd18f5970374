#include "runtime/quantize.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <numbers>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/quant.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "formats/weight_store.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "models/llama.h"
#include "text/gguf_vocab_export.h"

namespace edgerun {

namespace fs = std::filesystem;

namespace {

// ggml type ids (MODELS.md §1.2) of the types the engine reads and writes.
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14, kBF16 = 30;

DType dtype_of(uint32_t ggml) {
  switch (ggml) {
    case kF32: return DType::F32;
    case kF16: return DType::F16;
    case kBF16: return DType::BF16;
    case kQ8_0: return DType::Q8_0;
    case kQ4_0: return DType::Q4_0;
    case kQ4_K: return DType::Q4_K;
    case kQ6_K: return DType::Q6_K;
    default: fail("quantize", "no engine type for ggml type " + ggml_type_name(ggml));
  }
}

uint64_t block_elems(uint32_t ggml) {
  uint32_t e = 1, b = 0;
  ggml_type_block(ggml, e, b);
  return e;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int layer_of(const std::string& name) {
  int layer = -1;
  return std::sscanf(name.c_str(), "blk.%d.", &layer) == 1 ? layer : -1;
}

// llama-quantize's use_more_bits: the first and last eighth of the layers and every third one
// in between get the bigger type in the _M recipes.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

QuantRecipe parse_quant_recipe(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (n == "f32") return QuantRecipe::F32;
  if (n == "f16") return QuantRecipe::F16;
  if (n == "bf16") return QuantRecipe::BF16;
  if (n == "q8_0") return QuantRecipe::Q8_0;
  if (n == "q4_0") return QuantRecipe::Q4_0;
  if (n == "q4_k" || n == "q4_k_m") return QuantRecipe::Q4_K_M;
  fail("--type", "unknown type '" + name + "' (expected q8_0, q4_0, q4_k, f16, bf16 or f32)");
}

const char* quant_recipe_name(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::F32: return "f32";
    case QuantRecipe::F16: return "f16";
    case QuantRecipe::BF16: return "bf16";
    case QuantRecipe::Q8_0: return "q8_0";
    case QuantRecipe::Q4_0: return "q4_0";
    case QuantRecipe::Q4_K_M: return "q4_k";
  }
  return "?";
}

uint32_t llama_ftype(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::F32: return 0;
    case QuantRecipe::F16: return 1;
    case QuantRecipe::BF16: return 32;
    case QuantRecipe::Q8_0: return 7;
    case QuantRecipe::Q4_0: return 2;
    case QuantRecipe::Q4_K_M: return 15;
  }
  return 0;
}

uint32_t quant_tensor_type(QuantRecipe r, const std::string& name, const std::vector<uint64_t>& ne,
                           int64_t n_layers, bool tied, std::string* fallback) {
  // 1-D tensors, norms and non-weights stay F32 (llama.cpp kernels expect F32 norms).
  if (ne.size() < 2 || ends_with(name, "_norm.weight") || !ends_with(name, "weight")) return kF32;
  switch (r) {
    case QuantRecipe::F32: return kF32;
    case QuantRecipe::F16: return kF16;
    case QuantRecipe::BF16: return kBF16;
    default: break;
  }
  const uint32_t base = r == QuantRecipe::Q8_0 ? kQ8_0 : r == QuantRecipe::Q4_0 ? kQ4_0 : kQ4_K;
  uint32_t type = base;
  const bool output = name == "output.weight" || (tied && name == "token_embd.weight");
  if (output) {
    // The LM head is the most sensitive matrix: Q6_K unless the file is Q8_0 anyway.
    if (ne[0] % block_elems(base) != 0) type = kQ8_0;
    else if (base != kQ8_0) type = kQ6_K;
  } else if (r == QuantRecipe::Q4_K_M) {
    const int layer = layer_of(name);
    const bool more = layer >= 0 && use_more_bits(layer, n_layers);
    if (more && (name.find("attn_v.weight") != std::string::npos || name.find("ffn_down") != std::string::npos))
      type = kQ6_K;
  }
  if (ne[0] % block_elems(type) == 0) return type;
  // Rows that are not whole blocks. llama.cpp: Q6_K → Q8_0 and Q4_K → Q5_0; the engine has no
  // Q5_0, so Q4_K goes to Q8_0 (more bits, never less quality). Q8_0 / Q4_0 have no fallback in
  // llama-quantize (it stops); convert_hf_to_gguf.py writes F16 there, and so do we.
  const uint32_t from = type;
  type = (type == kQ4_K || type == kQ6_K) && ne[0] % 32 == 0 ? kQ8_0 : kF16;
  if (fallback)
    *fallback = "ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " + ggml_type_name(from) +
                " block size " + std::to_string(block_elems(from)) + ": wrote " + ggml_type_name(type);
  return type;
}

int64_t rope_source_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, o = r % head_dim;
  return h * head_dim + (o % 2) * (head_dim / 2) + o / 2;
}

namespace {

// One output tensor: where its rows come from and what it becomes.
struct Item {
  std::string name;             // GGUF name
  Tensor src;                   // source view (PyTorch shape)
  int64_t permute_head_dim = 0; // > 0: Q/K rows reordered to interleaved RoPE pairs
  std::vector<uint64_t> ne;     // GGUF order
  uint32_t type = kF32;
  std::shared_ptr<std::vector<float>> owned;  // generated data (rope_freqs)
};

struct Source {
  std::string arch;         // general.architecture to write
  LlamaConfig config;
  WeightStore weights;      // keeps the mapped inputs alive
  std::vector<Item> items;  // in output order
  bool tied = false;
  std::optional<GgufFile> gguf;  // GGUF input: metadata to copy
  json hf_config;                // HF input: the decoder's config (a VLM's text_config)
  std::string dir;
  std::vector<std::pair<const uint8_t*, size_t>> mapped;  // input file mappings
  std::vector<std::string> notes;                           // for the log
};

// Input pages are read once, in order: tell the kernel, and drop them once a tensor is done so
// the resident size stays flat (they are clean file pages; touching them again re-reads).
// Only ranges inside a file mapping qualify: a misaligned safetensors tensor may be a heap copy.
void advise_sequential(const Source& s) {
  for (const auto& [base, size] : s.mapped) ::madvise(const_cast<uint8_t*>(base), size, MADV_SEQUENTIAL);
}

void release_pages(const Source& s, const uint8_t* data, size_t nbytes) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data), end = begin + nbytes;
  for (const auto& [base, size] : s.mapped) {
    const auto b = reinterpret_cast<uintptr_t>(base);
    if (begin < b || end > b + size) continue;
    const uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
}

std::vector<uint64_t> reversed(const std::vector<int64_t>& shape) {
  return std::vector<uint64_t>(shape.rbegin(), shape.rend());
}

void load_hf(Source& s, const std::string& dir) {
  s.dir = dir;
  const std::string config_file = dir + "/config.json";
  if (!file_exists(config_file)) fail(dir, "not a model directory: config.json is missing");
  const json config = read_json_file(config_file);
  s.config = llama_config_from_hf(config, config_file);
  s.hf_config = s.config.vision_language ? config["text_config"] : config;
  // As llama.cpp's converter: Ministral3ForCausalLM and every Mistral3ForConditionalGeneration
  // become mistral3; plain mistral runs as llama.
  const std::string& model_type = s.config.model_type;
  s.arch = model_type == "smollm3" ? "smollm3"
           : model_type == "ministral3" || s.config.vision_language ? "mistral3"
                                                                      : "llama";
  const LlamaConfig& c = s.config;
  if (s.arch == "smollm3") {
    // llama.cpp's smollm3 fixes NoPE at every 4th layer; any other pattern cannot be stored.
    for (int64_t i = 0; i < c.n_layers; ++i)
      if (c.layer_uses_rope[size_t(i)] != ((i + 1) % 4 != 0))
        fail(config_file + ": field 'no_rope_layers'", "layer " + std::to_string(i) +
                 " breaks the every-4th-layer NoPE pattern that GGUF smollm3 files imply");
  }
  if (c.rope.type != "default" && c.rope.type != "linear" && c.rope.type != "yarn" && c.rope.type != "llama3")
    fail(config_file + ": field 'rope_scaling'", "rope type '" + c.rope.type + "' cannot be written to GGUF");

  const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
  if (file_exists(index)) {
    for (SafetensorsFile& f : read_safetensors_index(index)) {
      s.mapped.emplace_back(f.storage->data(), f.storage->size());
      s.weights.add(f.tensors, f.storage, index);
    }
  } else if (file_exists(single)) {
    SafetensorsFile f = read_safetensors(single);
    s.mapped.emplace_back(f.storage->data(), f.storage->size());
    s.weights.add(f.tensors, f.storage, single);
  } else {
    fail(dir, "no weights: expected model.safetensors or model.safetensors.index.json");
  }
  s.weights.attach_fp8_scales();  // FP8 inputs are converted as fp8 * scale
  locate_text_decoder(s.config, s.weights);

  const int64_t H = c.hidden_size;
  s.tied = c.tie_word_embeddings;
  std::set<std::string> used;
  auto add = [&](const std::string& hf, const std::string& gguf, std::vector<int64_t> shape, int64_t permute = 0) {
    const Tensor& t = s.weights.get(hf, shape);
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16 && t.dtype != DType::F8_E4M3)
      fail(s.weights.source(), "tensor '" + hf + "' has type " + dtype_name(t.dtype) + " (expected F32, F16, BF16 or F8_E4M3)");
    s.items.push_back(Item{gguf, t, permute, reversed(t.shape), kF32, nullptr});
    used.insert(hf);
  };
  const std::string& prefix = c.hf_prefix;  // "model." or a VLM's "model.language_model."
  add(prefix + "embed_tokens.weight", "token_embd.weight", {c.vocab_size, H});
  if (c.rope.type == "llama3") {
    // llama.cpp applies Llama-3.1 frequency scaling through per-dimension divisors.
    auto freqs = std::make_shared<std::vector<float>>();
    const double lo = c.rope.low_freq_factor, hi = c.rope.high_freq_factor, factor = c.rope.factor;
    const double old_ctx = c.rope.original_context > 0 ? double(c.rope.original_context) : 8192.0;
    for (int64_t i = 0; i < c.head_dim / 2; ++i) {
      const double freq = 1.0 / std::pow(c.rope.theta, double(2 * i) / double(c.head_dim));
      const double wavelen = 2 * std::numbers::pi / freq;
      double f = 1;
      if (wavelen < old_ctx / hi) f = 1;
      else if (wavelen > old_ctx / lo) f = factor;
      else {
        const double smooth = (old_ctx / wavelen - lo) / (hi - lo);
        f = 1 / ((1 - smooth) / factor + smooth);
      }
      freqs->push_back(float(f));
    }
    Tensor t;
    t.name = "rope_freqs.weight";
    t.dtype = DType::F32;
    t.shape = {int64_t(freqs->size())};
    t.data = reinterpret_cast<const uint8_t*>(freqs->data());
    t.nbytes = freqs->size() * 4;
    s.items.push_back(Item{t.name, t, 0, reversed(t.shape), kF32, freqs});
  }
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string hf = prefix + "layers." + std::to_string(i) + ".", gg = "blk." + std::to_string(i) + ".";
    add(hf + "input_layernorm.weight", gg + "attn_norm.weight", {H});
    add(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", {c.q_dim(), H}, c.head_dim);
    add(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", {c.kv_dim(), H}, c.head_dim);
    add(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", {c.kv_dim(), H});
    add(hf + "self_attn.o_proj.weight", gg + "attn_output.weight", {H, c.q_dim()});
    add(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", {H});
    add(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", {c.intermediate_size, H});
    add(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", {c.intermediate_size, H});
    add(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", {H, c.intermediate_size});
  }
  add(prefix + "norm.weight", "output_norm.weight", {H});
  if (s.weights.find(c.hf_lm_head) && !s.tied) add(c.hf_lm_head, "output.weight", {c.vocab_size, H});
  else if (!s.tied) fail(s.weights.source(), "missing tensor '" + c.hf_lm_head + "' (and tie_word_embeddings is false)");
  used.insert(c.hf_lm_head);  // ignored when tied: transformers uses the embedding then
  size_t vision = 0;
  for (const auto& [name, t] : s.weights.all()) {
    if (is_vision_tensor(name)) ++vision;
    else if (!used.count(name) && !ends_with(name, "rotary_emb.inv_freq") && !WeightStore::is_fp8_companion(name))
      fail(s.weights.source(), "tensor '" + name + "' has no GGUF counterpart (unsupported architecture variant?)");
  }
  if (vision > 0)
    s.notes.push_back("skipped " + std::to_string(vision) +
                      " vision tensors (vision_tower, multi_modal_projector): the GGUF holds the text decoder only");
}

void load_gguf(Source& s, const std::string& path) {
  s.gguf = GgufFile::open(path);
  s.config = llama_config_from_gguf(*s.gguf);
  s.arch = s.config.architecture;
  s.weights.add(s.gguf->tensors(), s.gguf->storage(), path);
  s.mapped.emplace_back(s.gguf->storage()->data(), s.gguf->storage()->size());
  s.tied = !s.weights.find("output.weight");
  for (const GgufTensorInfo& info : s.gguf->tensor_infos()) {
    const Tensor& t = s.weights.get(info.name);
    s.items.push_back(Item{info.name, t, 0, info.ne, kF32, nullptr});
  }
}

std::string model_name(const std::string& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  if (name == "model" && p.has_parent_path()) name = p.parent_path().filename().string();
  return name;
}

void write_hf_metadata(GgufWriter& w, const Source& s, QuantizeResult& result) {
  const LlamaConfig& c = s.config;
  const std::string a = s.arch + ".";
  w.set_string("general.architecture", s.arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", model_name(s.dir));
  w.set_u32(a + "vocab_size", uint32_t(c.vocab_size));
  w.set_u32(a + "context_length", uint32_t(c.max_position_embeddings));
  w.set_u32(a + "embedding_length", uint32_t(c.hidden_size));
  w.set_u32(a + "block_count", uint32_t(c.n_layers));
  w.set_u32(a + "feed_forward_length", uint32_t(c.intermediate_size));
  w.set_u32(a + "attention.head_count", uint32_t(c.n_heads));
  w.set_u32(a + "attention.head_count_kv", uint32_t(c.n_kv_heads));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  w.set_f32(a + "rope.freq_base", float(c.rope.theta));
  w.set_u32(a + "rope.dimension_count", uint32_t(c.head_dim));
  if (s.hf_config.contains("head_dim") || c.head_dim * c.n_heads != c.hidden_size) {
    w.set_u32(a + "attention.key_length", uint32_t(c.head_dim));
    w.set_u32(a + "attention.value_length", uint32_t(c.head_dim));
  }
  if (c.rope.type == "linear" || c.rope.type == "yarn") {
    w.set_string(a + "rope.scaling.type", c.rope.type);
    w.set_f32(a + "rope.scaling.factor", float(c.rope.factor));
  }
  if (c.rope.type == "yarn") {
    if (c.rope.original_context > 0) w.set_u32(a + "rope.scaling.original_context_length", uint32_t(c.rope.original_context));
    w.set_f32(a + "rope.scaling.yarn_beta_fast", float(c.rope.beta_fast));
    w.set_f32(a + "rope.scaling.yarn_beta_slow", float(c.rope.beta_slow));
    if (c.rope.attention_factor > 0) w.set_f32(a + "rope.scaling.yarn_attn_factor", float(c.rope.attention_factor));
  }
  if (s.config.model_type == "ministral3") {
    // llama.cpp's Ministral3Model: the YaRN log multiplier is mscale_all_dim (mscale taken as 1),
    // and the query temperature's beta; its interval is rope.scaling.original_context_length.
    if (c.rope.type != "yarn" || c.rope.original_context <= 0)
      fail(s.dir + "/config.json", "ministral3 needs yarn rope_parameters with original_max_position_embeddings for GGUF");
    if (c.rope.mscale_all_dim > 0) w.set_f32(a + "rope.scaling.yarn_log_multiplier", float(c.rope.mscale_all_dim));
    if (c.query_temperature.enabled()) w.set_f32(a + "attention.temperature_scale", float(c.query_temperature.beta));
  }
  const json* window = s.hf_config.contains("sliding_window") ? &s.hf_config["sliding_window"] : nullptr;
  if (window && window->is_number_integer() && window->get<int64_t>() < c.max_position_embeddings)
    result.warnings.push_back("sliding_window " + std::to_string(window->get<int64_t>()) +
                              " is not stored: GGUF llama files use full attention");
  // tokenizer.json when present (as llama.cpp's converter), else Mistral's tekken.json.
  GgufVocab vocab = !file_exists(s.dir + "/tokenizer.json") && file_exists(s.dir + "/tekken.json")
                        ? export_tekken_vocab(s.dir, c.vocab_size)
                        : export_hf_vocab(s.dir, c.vocab_size);
  for (std::string& warning : vocab.warnings) result.warnings.push_back("tokenizer: " + warning);
  write_vocab_metadata(w, vocab);
}

// ---------------------------------------------------------------- row conversion

void f32_to_row(DType t, const float* src, uint8_t* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      auto* h = reinterpret_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
      return;
    }
    default: quantize_row(t, src, dst, n);
  }
}

// ---------------------------------------------------------------- progress

class Progress {
 public:
  Progress(std::FILE* log, uint64_t total, size_t n_tensors)
      : log_(log), tty_(log && isatty(fileno(log))), total_(std::max<uint64_t>(total, 1)), n_(n_tensors) {}

  void update(size_t index, const std::string& name, uint32_t type, uint64_t done) {
    if (!log_) return;
    const int pct = int(done * 100 / total_);
    char line[256];
    std::snprintf(line, sizeof line, "[%3zu/%zu] %-28s %-5s %8.1f / %.1f MiB %3d%%", index + 1, n_, name.c_str(),
                  ggml_type_name(type).c_str(), double(done) / 1048576.0, double(total_) / 1048576.0, pct);
    if (tty_) {
      std::fprintf(log_, "\r%s\x1b[K", line);  // one line, redrawn in place
      std::fflush(log_);
      drawn_ = true;
    } else if (pct / 25 > last_quarter_ || done == total_) {  // a few lines for logs and pipes
      last_quarter_ = pct / 25;
      if (done == total_ && printed_end_) return;
      printed_end_ = done == total_;
      std::fprintf(log_, "%s\n", line);
    }
  }
  // Ends the redrawn line (also when an error unwinds, so the error starts on its own line).
  void end() {
    if (drawn_) std::fprintf(log_, "\n");
    drawn_ = false;
  }
  ~Progress() { end(); }

 private:
  std::FILE* log_;
  bool tty_;
  uint64_t total_;
  size_t n_;
  int last_quarter_ = 0;
  bool printed_end_ = false, drawn_ = false;
};

// Writes one tensor's data in chunks of rows, the rows of a chunk converted in parallel.
void stream_tensor(const Item& it, GgufWriter& w, ThreadPool& pool, std::vector<std::vector<float>>& scratch,
                   const Source& source, const std::function<void(uint64_t)>& on_bytes) {
  const DType in = it.src.dtype, out = dtype_of(it.type);
  const int64_t n = int64_t(it.ne[0]);
  int64_t rows = 1;
  for (size_t d = 1; d < it.ne.size(); ++d) rows *= int64_t(it.ne[d]);
  const size_t in_row = dtype_row_bytes(in, n), out_row = dtype_row_bytes(out, n);
  if (in_row * size_t(rows) != it.src.nbytes) fail(it.name, "source size does not match its shape");
  // ~16 MiB of F32 per chunk keeps memory flat and every thread busy.
  const int64_t chunk = std::max<int64_t>(pool.size(), std::min<int64_t>(rows, (16 << 20) / (n * 4)));
  std::vector<uint8_t> buf(size_t(std::min(chunk, rows)) * out_row);
  for (auto& s : scratch) s.resize(size_t(n));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t m = std::min(chunk, rows - r0);
    pool.parallel_for(m, [&](int64_t b, int64_t e, int t) {
      float* f = scratch[size_t(t)].data();
      for (int64_t r = b; r < e; ++r) {
        const int64_t row = it.permute_head_dim > 0 ? rope_source_row(r0 + r, it.permute_head_dim) : r0 + r;
        const uint8_t* src = it.src.data + size_t(row) * in_row;
        uint8_t* dst = buf.data() + size_t(r) * out_row;
        if (in == out) {
          std::memcpy(dst, src, out_row);  // same type: exact copy (only reordered)
        } else {
          to_f32(in, src, f, n);
          if (it.src.scale != 1.0f) scale_inplace(f, it.src.scale, n);  // FP8: fp8 * its scale
          f32_to_row(out, f, dst, n);
        }
      }
    });
    w.write_data(buf.data(), size_t(m) * out_row);
    // Q/K rows come from within the same head, so at worst a page is read twice.
    release_pages(source, it.src.data + size_t(r0) * in_row, size_t(m) * in_row);
    on_bytes(uint64_t(m) * out_row);
  }
}

// Removes the temporary file unless released (any failure leaves OUT untouched).
struct TmpFile {
  std::string path;
  bool keep = false;
  ~TmpFile() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

}  // namespace

QuantizeResult quantize_model(const QuantizeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const QuantRecipe recipe = parse_quant_recipe(opt.type);
  if (opt.output.empty()) fail("quantize", "no output file given");
  if (opt.threads < 0) fail("-t", "must be >= 0");
  std::error_code ec;
  fs::path out_dir = fs::path(opt.output).parent_path();
  if (out_dir.empty()) out_dir = ".";
  if (!fs::is_directory(out_dir, ec)) fail(opt.output, "output directory '" + out_dir.string() + "' does not exist");
  if (fs::is_directory(opt.output, ec)) fail(opt.output, "is a directory (expected a .gguf file name)");

  Source src;
  if (fs::is_directory(opt.input, ec)) {
    load_hf(src, opt.input);
  } else if (!fs::exists(opt.input, ec)) {
    fail(opt.input, "no such file or directory");
  } else {
    const std::string name = fs::path(opt.input).filename().string();
    if (name == "config.json" || ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json"))
      load_hf(src, fs::path(opt.input).parent_path().string());
    else
      load_gguf(src, opt.input);  // "not a GGUF file" when it is neither
  }

  QuantizeResult result;
  result.file_type = llama_ftype(recipe);
  GgufWriter w;
  if (src.gguf) {
    // Re-quantizing: keep every key but the ones describing the old tensors' layout.
    for (const auto& [key, value] : src.gguf->metadata()) {
      if (key != "general.alignment" && key != "general.file_type" && key != "general.quantization_version")
        w.set(key, value);
    }
  } else {
    write_hf_metadata(w, src, result);
  }
  w.set_u32("general.file_type", result.file_type);
  w.set_u32("general.quantization_version", 2);
  w.set_alignment(32);

  uint64_t total = 0;
  std::map<std::string, std::vector<std::string>> fallbacks;  // reason → tensors (one line each)
  for (Item& it : src.items) {
    std::string fallback;
    it.type = quant_tensor_type(recipe, it.name, it.ne, src.config.n_layers, src.tied, &fallback);
    if (!fallback.empty()) fallbacks[fallback].push_back(it.name);
    total += w.tensor_bytes(w.add_tensor(it.name, it.type, it.ne));
    ++result.type_counts[ggml_type_name(it.type)];
  }
  for (const auto& [reason, names] : fallbacks) {
    std::string list;
    for (size_t i = 0; i < names.size() && i < 3; ++i) list += (i ? ", " : "") + names[i];
    if (names.size() > 3) list += ", ...";
    result.warnings.push_back(std::to_string(names.size()) + " tensor(s) (" + list + "): " + reason);
  }
  result.n_tensors = src.items.size();
  result.file_bytes = w.file_size();
  if (opt.log) {
    for (const std::string& note : src.notes) std::fprintf(opt.log, "edgerun quantize: note: %s\n", note.c_str());
    for (const std::string& warning : result.warnings) std::fprintf(opt.log, "edgerun quantize: warning: %s\n", warning.c_str());
  }

  ThreadPool pool(opt.threads);
  if (opt.log)
    std::fprintf(opt.log, "edgerun quantize: %s -> %s (%s, %zu tensors, %.1f MiB, %d threads)\n", opt.input.c_str(),
                 opt.output.c_str(), quant_recipe_name(recipe), src.items.size(), double(result.file_bytes) / 1048576.0,
                 pool.size());
  std::vector<std::vector<float>> scratch(size_t(pool.size()));
  TmpFile tmp{opt.output + ".tmp"};
  w.open(tmp.path);
  Progress progress(opt.log, total, src.items.size());
  uint64_t done = 0;
  advise_sequential(src);
  for (size_t i = 0; i < src.items.size(); ++i) {
    const Item& it = src.items[i];
    stream_tensor(it, w, pool, scratch, src, [&](uint64_t bytes) {
      done += bytes;
      progress.update(i, it.name, it.type, done);
    });
  }
  w.finish();
  progress.end();
  fs::rename(tmp.path, opt.output, ec);
  if (ec) fail(opt.output, "cannot rename " + tmp.path + " to it: " + ec.message());
  tmp.keep = true;

  if (opt.log) {
    std::string types;
    for (const auto& [name, count] : result.type_counts) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + name;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(opt.log, "edgerun quantize: wrote %s (%s, general.file_type %u, %.1f MiB, %zu tensors: %s) in %.2f s\n",
                 opt.output.c_str(), quant_recipe_name(recipe), result.file_type, double(result.file_bytes) / 1048576.0,
                 result.n_tensors, types.c_str(), secs);
  }
  return result;
}

}  // namespace edgerun

#include "runtime/model_loader.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "runtime/mmproj.h"

namespace edgerun {

namespace fs = std::filesystem;

namespace {

void add_unique(std::vector<int32_t>& ids, int32_t id) {
  if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

// generation_config.json: its eos_token_id wins over config.json's (as transformers' generate),
// and its sampling settings become the defaults when do_sample is true.
void read_generation_config(const std::string& dir, LoadedModel& m) {
  const std::string file = dir + "/generation_config.json";
  if (!file_exists(file)) return;
  const json g = read_json_file(file);
  if (!g.is_object()) fail(file, "expected a JSON object");
  if (g.contains("eos_token_id") && !g["eos_token_id"].is_null()) {
    m.eos_ids.clear();
    const json& e = g["eos_token_id"];
    if (e.is_number_integer()) add_unique(m.eos_ids, e.get<int32_t>());
    else if (e.is_array()) {
      for (const json& x : e) {
        if (!x.is_number_integer()) fail(file + ": field 'eos_token_id'", "expected integers");
        add_unique(m.eos_ids, x.get<int32_t>());
      }
    } else fail(file + ": field 'eos_token_id'", "expected an integer or a list");
  }
  if (json_bool_or(g, "do_sample", false, file)) {
    SamplerParams p;
    p.temperature = float(json_number_or(g, "temperature", 1.0, file));
    p.top_k = int(json_int_or(g, "top_k", 50, file));
    p.top_p = float(json_number_or(g, "top_p", 1.0, file));
    p.min_p = float(json_number_or(g, "min_p", 0.0, file));
    p.repeat_penalty = float(json_number_or(g, "repetition_penalty", 1.0, file));
    m.generation_defaults = p;
  }
}

LoadedModel load_hf_dir(const std::string& dir, const LoadOptions& opt) {
  LoadedModel m;
  m.path = dir;
  m.format = "safetensors";
  const std::string config_file = dir + "/config.json";
  if (!file_exists(config_file)) fail(dir, "not a model directory: config.json is missing");
  const json config = read_json_file(config_file);
  m.config = llama_config_from_hf(config, config_file);
  if (is_idefics3_config(config)) {
    m.vision = std::make_unique<VisionModel>();
    m.vision->config = idefics3_config_from_hf(config, config_file);
    m.vision->processor = idefics3_processor_config(dir, m.vision->config.vision.image_size, m.vision->config.tokens_per_tile());
  }
  m.eos_ids = m.config.eos_token_ids;
  read_generation_config(dir, m);
  if (opt.weights) {
    m.weights = std::make_unique<WeightStore>();
    const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
    if (file_exists(index)) {
      for (SafetensorsFile& f : read_safetensors_index(index)) m.weights->add(f.tensors, f.storage, index);
    } else if (file_exists(single)) {
      SafetensorsFile f = read_safetensors(single);
      m.weights->add(f.tensors, f.storage, single);
    } else {
      fail(dir, "no weights: expected model.safetensors or model.safetensors.index.json");
    }
    m.weights->attach_fp8_scales();
    locate_text_decoder(m.config, *m.weights);
    size_t vision = 0;
    for (const auto& [name, t] : m.weights->all()) vision += is_vision_tensor(name);
    if (vision > 0 && !m.vision)  // a checkpoint whose vision tower this engine does not run yet
      m.notices.push_back("skipping " + std::to_string(vision) +
                          " vision tensors (vision_tower, multi_modal_projector): only the text decoder runs");
    m.model = std::make_unique<LlamaModel>(m.config, *m.weights);
    if (m.vision) m.vision->tower = std::make_unique<Idefics3Vision>(m.vision->config, *m.weights);
  }
  // tokenizer.json when there is one (as transformers and llama.cpp's converter choose), else
  // Mistral's own tekken.json.
  if (opt.tokenizer && file_exists(dir + "/tokenizer.json")) m.tokenizer = Tokenizer::from_hf_dir(dir);
  else if (opt.tokenizer && file_exists(dir + "/tekken.json")) m.tokenizer = Tokenizer::from_tekken(dir + "/tekken.json");
  return m;
}

LoadedModel load_gguf(GgufFile gguf, const LoadOptions& opt) {
  LoadedModel m;
  m.path = gguf.path();
  m.format = "gguf";
  m.config = llama_config_from_gguf(gguf);
  m.eos_ids = m.config.eos_token_ids;
  if (opt.weights) {
    m.weights = std::make_unique<WeightStore>();
    m.weights->add(gguf.tensors(), gguf.storage(), gguf.path());
    m.model = std::make_unique<LlamaModel>(m.config, *m.weights);
  }
  if (opt.tokenizer && gguf.find("tokenizer.ggml.tokens")) m.tokenizer = Tokenizer::from_gguf(gguf);
  if (!opt.mmproj.empty()) {
    if (!m.tokenizer) fail(gguf.path(), "an mmproj needs the text model's tokenizer, which this GGUF lacks");
    m.vision = load_idefics3_mmproj(opt.mmproj, *m.tokenizer);
    if (m.vision->config.text_hidden != m.config.hidden_size)
      fail(opt.mmproj, "projects to width " + std::to_string(m.vision->config.text_hidden) + " but the text model's is " +
                           std::to_string(m.config.hidden_size));
    if (!opt.weights) m.vision->tower.reset();
  }
  m.gguf = std::move(gguf);
  return m;
}

}  // namespace

const Tokenizer& LoadedModel::require_tokenizer() const {
  if (!tokenizer)
    fail(path, format == "gguf" ? "the GGUF file has no tokenizer (tokenizer.ggml.tokens)"
                                : "no tokenizer.json or tekken.json in the model directory (use --ids to pass token ids)");
  return *tokenizer;
}

int64_t LoadedModel::default_context() const { return std::min<int64_t>(config.max_position_embeddings, 4096); }

LoadedModel load_model(const std::string& path, const LoadOptions& opt) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (!opt.mmproj.empty()) fail("--mmproj", "is for GGUF text models; a model directory carries its own vision tower");
    return load_hf_dir(path, opt);
  }
  if (!fs::exists(path, ec)) fail(path, "no such file or directory");
  const std::string name = fs::path(path).filename().string();
  if (name == "config.json" || name.ends_with(".safetensors") || name == "model.safetensors.index.json")
    return load_hf_dir(fs::path(path).parent_path().string(), opt);
  return load_gguf(GgufFile::open(path), opt);
}

LoadedModel load_gguf_bytes(const std::string& name, const void* data, size_t size, const LoadOptions& opt) {
  return load_gguf(GgufFile::parse(Storage::borrow(name, data, size)), opt);
}

}  // namespace edgerun

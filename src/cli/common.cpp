#include "cli/common.h"

#include <cstdio>

#include "core/error.h"

extern "C" const unsigned char edgerun_default_model_start[];
extern "C" const unsigned char edgerun_default_model_end[];

namespace edgerun::cli {

GenerateResult generate_to_stdout(const LoadedModel& model, LlamaState& state, ThreadPool& pool,
                                  const std::vector<int32_t>& prompt, const GenerateOptions& options) {
  TextStream stream(model.require_tokenizer(), prompt);
  const auto write = [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  const GenerateResult res = generate(*model.model, state, pool, prompt, options, [&](int32_t id) {
    write(stream.push(id));
    return true;
  });
  write(stream.finish());
  return res;
}

LoadedModel open_model(const std::string& path, const LoadOptions& options) {
  if (!path.empty()) {
    LoadedModel m = load_model(path, options);
    for (const std::string& notice : m.notices) std::fprintf(stderr, "edgerun: note: %s\n", notice.c_str());
    return m;
  }
  return load_gguf_bytes(kDefaultModelName, edgerun_default_model_start,
                         size_t(edgerun_default_model_end - edgerun_default_model_start), options);
}

std::vector<int32_t> parse_id_list(const std::string& text, const std::string& option) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '[' || text[i] == ']')) ++i;
    if (i >= text.size()) break;
    size_t j = i;
    if (text[j] == '-') ++j;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || (j == i + 1 && text[i] == '-') ||
        (j < text.size() && text[j] != ',' && text[j] != ' ' && text[j] != ']'))
      fail(option, "expected comma-separated integers, got '" + text + "'");
    if (j - i > 11) fail(option, "token id " + text.substr(i, j - i) + " is out of range");
    const long long v = std::stoll(text.substr(i, j - i));
    if (v < 0 || v > 0x7fffffff) fail(option, "token id " + text.substr(i, j - i) + " is out of range");
    ids.push_back(int32_t(v));
    i = j;
  }
  if (ids.empty()) fail(option, "no token ids given");
  return ids;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

DType parse_cache_type(const std::string& s) {
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "f32") return DType::F32;
  if (s == "q8_0") return DType::Q8_0;
  fail("--cache-type", "expected f16, bf16, q8_0 or f32, got '" + s + "'");
}

}  // namespace edgerun::cli

// The `edgerun` command end to end: the interfaces other tools script against, and the rule
// that bad input gives one clear error line and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/json_file.h"
#include "cli/cli_fixture.h"
#include "formats/safetensors.h"

namespace edgerun {
namespace {

using test::Cli;
using test::Result;
using test::slurp;
namespace fs = std::filesystem;

TEST_F(Cli, DefaultJobTellsAStoryFromTheBuiltInModel) {
  const Result r = run("run -n 40 --seed 1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), 60u) << r.out;
  const Result again = run("run -n 40 --seed 1");
  EXPECT_EQ(again.out, r.out);  // a seed reproduces the story
}

TEST_F(Cli, GreedyRunReproducesTheReferenceStory) {
  // stories260K prompt 0: greedy text from three independent oracles (case.json).
  const std::string expected =
      ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red "
      "ball. She wanted to play with it, but it was too high.\nLily's mom said";
  for (const std::string& model : {std::string(), "-m " + golden("llm/stories260K/gguf/stories260K.gguf")}) {
    const Result r = run("run " + model + " -p 'Once upon a time' --temp 0 -n 64");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected);
  }
}

TEST_F(Cli, TokenizeAndDetokenize) {
  const std::string gguf = golden("llm/stories260K/gguf/stories260K.gguf");
  Result r = run("tokenize -m " + gguf + " -p 'Once upon a time'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[1, 403, 407, 261, 378]\n");
  r = run("tokenize -m " + gguf + " -p 'Once upon a time' --no-special");
  EXPECT_EQ(r.out, "[403, 407, 261, 378]\n");
  r = run("detokenize -m " + gguf + " --ids 403,407,261,378");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon a time");
  r = run("tokenize -m " + golden("llm/tiny-smollm2/model") + " -p \"I don't have 12 cats.\"");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[57, 1326, 982, 457, 216, 33, 34, 7680, 30]\n");
}

TEST_F(Cli, LogitsFromIdsMatchTheGolden) {
  const fs::path out = tmp_ / "logits.safetensors";
  const Result r = run("logits -m " + golden("llm/tiny-smollm3/model") + " --ids 57,1326,982,457,216,33,34,7680,30 -o " +
                       out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const SafetensorsFile got = read_safetensors(out.string());
  const SafetensorsFile want = read_safetensors(golden("llm/tiny-smollm3/expected.safetensors"));
  const Tensor *logits = nullptr, *ids = nullptr, *expected = nullptr;
  for (const Tensor& t : got.tensors) (t.name == "logits" ? logits : ids) = &t;
  for (const Tensor& t : want.tensors)
    if (t.name == "prompt0.logits") expected = &t;
  ASSERT_TRUE(logits && ids && expected);
  EXPECT_EQ(logits->dtype, DType::F32);
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{9, 49152}));
  EXPECT_EQ(ids->dtype, DType::I32);
  EXPECT_EQ(ids->shape, (std::vector<int64_t>{9}));
  const float* g = reinterpret_cast<const float*>(logits->data);
  const float* e = reinterpret_cast<const float*>(expected->data);
  for (int64_t i = 0; i < 9 * 49152; ++i) ASSERT_LE(std::fabs(g[i] - e[i]), 2e-3 + 1e-3 * std::fabs(e[i])) << i;
}

TEST_F(Cli, InfoDescribesTheModel) {
  Result r = run("info " + golden("llm/tiny-smollm3/model"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("SmolLM3ForCausalLM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NoPE layers:      3 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BF16"), std::string::npos) << r.out;
  r = run("info");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("layers:           5"), std::string::npos) << r.out;
}

TEST_F(Cli, MissingAndEmptyFiles) {
  expect_clean_error("run -m /nonexistent/model.gguf -p hi", "/nonexistent/model.gguf");
  const fs::path empty = write("empty.gguf", "");
  expect_clean_error("info " + empty.string(), empty.string());
  const fs::path dir = tmp_ / "nomodel";
  fs::create_directories(dir);
  expect_clean_error("info " + dir.string(), "config.json");
}

TEST_F(Cli, TruncatedAndCorruptCheckpoints) {
  const std::string gguf = slurp(golden("llm/stories260K/gguf/stories260K.gguf"));
  for (size_t cut : {size_t(3), size_t(20), size_t(1000), gguf.size() / 2, gguf.size() - 1}) {
    const fs::path p = write("cut" + std::to_string(cut) + ".gguf", gguf.substr(0, cut));
    expect_clean_error("run -m " + p.string() + " -p hi -n 2", p.string());
  }
  std::string bad_magic = gguf;
  bad_magic[0] = 'X';
  const fs::path p = write("magic.gguf", bad_magic);
  expect_clean_error("info " + p.string(), p.string());
  // A model directory whose safetensors is cut short.
  const fs::path d = tmp_ / "cut_model";
  fs::create_directories(d);
  fs::copy_file(golden("llm/tiny-smollm2/model/config.json"), d / "config.json");
  const std::string st = slurp(golden("llm/tiny-smollm2/model/model.safetensors"));
  write("cut_model/model.safetensors", st.substr(0, st.size() - 100));
  expect_clean_error("logits -m " + d.string() + " --ids 1,2 -o " + (tmp_ / "x.safetensors").string(), "model.safetensors");
  EXPECT_FALSE(fs::exists(tmp_ / "x.safetensors"));
}

TEST_F(Cli, BadConfigs) {
  const std::string config = slurp(golden("llm/tiny-smollm2/model/config.json"));
  auto model_with = [&](const std::string& name, const std::string& cfg) {
    const fs::path d = tmp_ / name;
    fs::create_directories(d);
    write(name + "/config.json", cfg);
    fs::copy_file(golden("llm/tiny-smollm2/model/model.safetensors"), d / "model.safetensors");
    return d.string();
  };
  std::string unknown = config;
  unknown.replace(unknown.find("\"llama\""), 7, "\"gpt_neox\"");
  expect_clean_error("info " + model_with("arch", unknown), "gpt_neox");
  std::string missing = config;
  const size_t at = missing.find("\"hidden_size\"");
  missing.replace(at, missing.find('\n', at) - at + 1, "");
  expect_clean_error("info " + model_with("missing", missing), "hidden_size");
  expect_clean_error("info " + model_with("json", "{\"model_type\": "), "config.json");
  std::string wrong = config;
  wrong.replace(wrong.find("\"num_hidden_layers\": 6"), 22, "\"num_hidden_layers\": 7");
  expect_clean_error("info " + model_with("layers", wrong), "model.layers.6");
}

TEST_F(Cli, BadRequests) {
  const std::string gguf = golden("llm/stories260K/gguf/stories260K.gguf");
  expect_clean_error("run -m " + gguf + " -p 'Once upon a time there was' --ctx 4", "context");
  expect_clean_error("logits -m " + gguf + " --ids 1,2,x -o " + (tmp_ / "o").string(), "--ids");
  expect_clean_error("logits -m " + gguf + " --ids 1,99999 -o " + (tmp_ / "o").string(), "99999");
  expect_clean_error("logits -m " + gguf + " -p hi --ids 1 -o " + (tmp_ / "o").string(), "--ids");
  expect_clean_error("run -m " + gguf + " -p hi --top-p 0", "--top-p");
  expect_clean_error("tokenize -m " + golden("llm/stories260K/model") + " -p hi", "tokenizer");
}

// Ministral 3 (tiny-ministral3 golden case): greedy ids from `logits --ids` and from `run`.
TEST_F(Cli, MinistralGreedyFromLogitsAndRun) {
  const std::string model = golden("llm/tiny-ministral3/model");
  const json c = read_json_file(golden("llm/tiny-ministral3/case.json"));
  for (const json& p : c["prompts"]) {
    const std::vector<int32_t> prompt = p["input_ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> greedy = p["greedy_ids"].get<std::vector<int32_t>>();
    // Teacher-forced: the prompt and the greedy ids but the last; the argmax at each position
    // from the prompt's last one on must be the next greedy id.
    std::string ids;
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), greedy.begin(), greedy.end() - 1);
    for (int32_t id : all) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    const fs::path out = tmp_ / "logits.safetensors";
    Result r = run("logits -m " + model + " --ids " + ids + " -o " + out.string());
    ASSERT_EQ(r.status, 0) << r.err;
    const SafetensorsFile f = read_safetensors(out.string());
    const Tensor& logits = f.tensors[0].name == "logits" ? f.tensors[0] : f.tensors[1];
    const int64_t vocab = logits.shape[1];
    const float* l = reinterpret_cast<const float*>(logits.data);
    for (size_t j = 0; j < greedy.size(); ++j) {
      const float* row = l + (prompt.size() - 1 + j) * size_t(vocab);
      EXPECT_EQ(std::max_element(row, row + vocab) - row, greedy[j]) << p["name"] << " step " << j;
    }
    // From text: the Tekken-tokenized prompt, greedy, 16 tokens (no EOS on these paths).
    r = run("run -m " + model + " -p '" + p["text"].get<std::string>() + "' --temp 0 -n 16 --cache-type f32");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, p["greedy_text"].get<std::string>()) << p["name"];
  }
}

TEST_F(Cli, MinistralBadInputs) {
  const std::string model = golden("llm/tiny-ministral3/model");
  auto model_dir = [&](const std::string& name) {
    const fs::path d = tmp_ / name;
    fs::create_directories(d);
    for (const char* f : {"config.json", "tekken.json", "generation_config.json"}) fs::copy_file(model + "/" + f, d / f);
    fs::create_symlink(model + "/model.safetensors", d / "model.safetensors");
    return d;
  };
  // A rope type the decoder does not implement.
  fs::path d = model_dir("rope");
  json config = read_json_file((d / "config.json").string());
  config["rope_parameters"]["rope_type"] = "longrope";
  write("rope/config.json", config.dump());
  expect_clean_error("info " + d.string(), "config.json: field 'rope_parameters.rope_type': rope type 'longrope' is not supported");
  // A Tekken version mistral-common does not know.
  d = model_dir("tekken");
  json tekken = read_json_file((d / "tekken.json").string());
  tekken["config"]["version"] = "v99";
  fs::remove(d / "tekken.json");
  write("tekken/tekken.json", tekken.dump());
  expect_clean_error("run -m " + d.string() + " -p hi -n 1", "tekken.json: field 'config.version': unknown Tekken version 'v99'");
  // FP8 weights without their scales.
  d = model_dir("fp8");
  fs::remove(d / "model.safetensors");
  const SafetensorsFile st = read_safetensors(model + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const Tensor& t : st.tensors) {
    const bool fp8 = t.name == "model.layers.2.self_attn.k_proj.weight";
    tensors.push_back({t.name, fp8 ? DType::F8_E4M3 : t.dtype, t.shape, t.data, fp8 ? t.nbytes / 2 : t.nbytes});
  }
  write_safetensors((d / "model.safetensors").string(), tensors);
  expect_clean_error("logits -m " + d.string() + " --ids 1,2 -o " + (tmp_ / "x.safetensors").string(),
                     "FP8 tensor 'model.layers.2.self_attn.k_proj.weight' has no scale");
}

}  // namespace
}  // namespace edgerun

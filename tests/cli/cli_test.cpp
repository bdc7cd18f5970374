// The `edgerun` command end to end: the interfaces other tools script against, and the rule
// that bad input gives one clear error line and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace edgerun

// safetensors reader and writer: every golden checkpoint, write→read round trips, one test per
// bad-input rule (single files and sharded indexes), every truncation point, a mutation fuzz.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "../test_util.h"

#include "formats/format_test_util.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;
using namespace edgerun::test;  // Bytes, TempDir, error_of, ...

// ---------------------------------------------------------------- helpers



// 8-byte length + header (space-padded to 8 unless told not to) + data bytes 1, 2, 3, ...
Bytes st_bytes(std::string header, size_t data_size, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t n = header.size();
  Bytes b(8 + n + data_size);
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), n);
  for (size_t i = 0; i < data_size; ++i) b[8 + n + i] = uint8_t(i + 1);
  return b;
}

// The small valid file used by the truncation and fuzz tests: mixed dtypes, an empty tensor.
const char* kValidHeader =
    R"({"__metadata__":{"format":"pt"},)"
    R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
    R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
    R"("e":{"dtype":"I8","shape":[0,5],"data_offsets":[22,22]},)"
    R"("i":{"dtype":"I16","shape":[1],"data_offsets":[22,24]}})";
constexpr size_t kValidData = 24;




// Writes the bytes to <name>.safetensors, reads it, and checks the Error names the file and
// the problem; then parses the same bytes from an exact-size heap buffer.
void expect_bad(const Bytes& bytes, const std::string& name, const std::string& problem) {
  SCOPED_TRACE(name);
  TempDir dir;
  const std::string path = dir.file(name + ".safetensors");
  write_file(path, bytes);
  const std::string msg = error_of([&] { read_safetensors(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(problem), std::string::npos) << "wanted '" << problem << "' in: " << msg;
  std::unique_ptr<uint8_t[]> holder;
  error_of([&] { parse_safetensors(heap_storage("mem.safetensors", bytes, holder)); });
}

void expect_bad_header(const std::string& header, size_t data_size, const std::string& name,
                       const std::string& problem) {
  expect_bad(st_bytes(header, data_size), name, problem);
}

const Tensor* named(const SafetensorsFile& f, const std::string& name) {
  for (const auto& t : f.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool inside(const Tensor& t, const Storage& s) {
  return t.data >= s.data() && t.data + t.nbytes <= s.data() + s.size();
}

// ---------------------------------------------------------------- real files

TEST(SafetensorsGolden, TinySmolLM3Bf16) {
  const auto f = read_safetensors(test::golden_dir() + "/llm/tiny-smollm3/model/model.safetensors");
  ASSERT_EQ(f.tensors.size(), 74u);
  ASSERT_EQ(f.metadata.size(), 1u);
  EXPECT_EQ(f.metadata[0], (std::pair<std::string, std::string>{"format", "pt"}));
  EXPECT_EQ(f.tensors[0].name, "model.embed_tokens.weight");  // header order kept
  for (const Tensor& t : f.tensors) {
    EXPECT_EQ(t.dtype, DType::BF16) << t.name;
    EXPECT_TRUE(inside(t, *f.storage)) << t.name;
    EXPECT_EQ(t.nbytes, size_t(t.numel()) * 2) << t.name;
  }
  const Tensor* embd = named(f, "model.embed_tokens.weight");
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{49152, 64}));
  EXPECT_EQ(named(f, "model.layers.0.self_attn.k_proj.weight")->shape,
            (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(named(f, "model.layers.7.mlp.down_proj.weight")->shape,
            (std::vector<int64_t>{64, 192}));
  EXPECT_EQ(named(f, "lm_head.weight"), nullptr);  // tied embeddings
  uint16_t h;
  std::memcpy(&h, embd->data, 2);
  EXPECT_TRUE(std::isfinite(bf16_to_f32(h)));
}

TEST(SafetensorsGolden, TinySmolLM2F32) {
  const auto f = read_safetensors(test::golden_dir() + "/llm/tiny-smollm2/model/model.safetensors");
  ASSERT_EQ(f.tensors.size(), 56u);
  for (const Tensor& t : f.tensors) EXPECT_EQ(t.dtype, DType::F32) << t.name;
  EXPECT_EQ(named(f, "model.embed_tokens.weight")->shape, (std::vector<int64_t>{49152, 48}));
  EXPECT_EQ(named(f, "model.norm.weight")->shape, (std::vector<int64_t>{48}));
}

// The HF conversion of stories260K and the llama.cpp GGUF hold byte-identical embeddings.
TEST(SafetensorsGolden, Stories260KMatchesGguf) {
  const std::string dir = test::golden_dir() + "/llm/stories260K/";
  const auto st = read_safetensors(dir + "model/model.safetensors");
  EXPECT_EQ(st.tensors.size(), 47u);
  const GgufFile gg = GgufFile::open(dir + "gguf/stories260K.gguf");
  const auto gt = gg.tensors();
  const std::vector<std::pair<std::string, std::string>> same = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"},
      {"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight"},
  };
  for (const auto& [hf, ggml] : same) {
    const Tensor* a = named(st, hf);
    const Tensor* b = nullptr;
    for (const Tensor& t : gt) b = t.name == ggml ? &t : b;
    ASSERT_TRUE(a && b) << hf;
    EXPECT_EQ(a->shape, b->shape) << hf;
    ASSERT_EQ(a->nbytes, b->nbytes) << hf;
    EXPECT_EQ(std::memcmp(a->data, b->data, a->nbytes), 0) << hf;
  }
}

TEST(SafetensorsGolden, EveryGoldenFileParses) {
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(test::golden_dir())) {
    if (e.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(e.path().string());
    const auto f = read_safetensors(e.path().string());
    EXPECT_FALSE(f.tensors.empty());
    for (const Tensor& t : f.tensors) EXPECT_TRUE(inside(t, *f.storage)) << t.name;
    ++files;
  }
  EXPECT_GE(files, 10u);
  const auto exp = read_safetensors(test::golden_dir() + "/llm/tiny-smollm2/expected.safetensors");
  const Tensor* ids = named(exp, "prompt0.input_ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype, DType::I32);
  EXPECT_EQ(named(exp, "prompt0.logits")->dtype, DType::F32);
}

// ---------------------------------------------------------------- writer

TEST(SafetensorsWrite, RoundTrip) {
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t b[5] = {f32_to_bf16(1.5f), 0, 0x7f80, 1, 2};
  const int32_t scalar = -42;
  const uint8_t flags[3] = {1, 0, 1};
  write_safetensors(path, {{"w", DType::F32, {2, 3}, w, sizeof w},
                           {"b.weight", DType::BF16, {5}, b, sizeof b},
                           {"scalar", DType::I32, {}, &scalar, 4},
                           {"empty", DType::U8, {0, 4}, nullptr, 0},
                           {"flags \"quoted\"", DType::BOOL, {3}, flags, 3}});
  const Bytes raw = read_bytes(path);
  uint64_t n;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + n + sizeof w + sizeof b + 4 + 3);
  EXPECT_EQ(dir.count(), 1u);  // no temporary left behind

  const auto f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 5u);
  EXPECT_EQ(f.tensors[0].name, "w");
  EXPECT_EQ(f.tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(f.tensors[0].data, w, sizeof w), 0);
  EXPECT_EQ(f.tensors[1].dtype, DType::BF16);
  EXPECT_EQ(std::memcmp(f.tensors[1].data, b, sizeof b), 0);
  EXPECT_TRUE(f.tensors[2].shape.empty());
  EXPECT_EQ(f.tensors[2].numel(), 1);
  EXPECT_EQ(std::memcmp(f.tensors[2].data, &scalar, 4), 0);
  EXPECT_EQ(f.tensors[3].nbytes, 0u);
  EXPECT_EQ(f.tensors[4].name, "flags \"quoted\"");
  EXPECT_EQ(f.tensors[4].dtype, DType::BOOL);

  write_safetensors(path, {});  // overwrite with an empty file: still valid
  EXPECT_TRUE(read_safetensors(path).tensors.empty());
}

// A tensor that is misaligned in the file is handed out as an aligned copy.
TEST(SafetensorsWrite, MisalignedTensorIsCopied) {
  TempDir dir;
  const std::string path = dir.file("odd.safetensors");
  const uint8_t one = 7;
  const double d[2] = {3.25, -1};
  write_safetensors(path, {{"byte", DType::U8, {1}, &one, 1}, {"d", DType::F64, {2}, d, 16}});
  const auto f = read_safetensors(path);
  const Tensor* t = named(f, "d");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % 8, 0u);
  EXPECT_FALSE(inside(*t, *f.storage));
  EXPECT_EQ(std::memcmp(t->data, d, 16), 0);
  EXPECT_TRUE(inside(*named(f, "byte"), *f.storage));
}

TEST(SafetensorsWrite, BadInputsLeaveExistingFileAlone) {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  const float w[4] = {1, 2, 3, 4};
  write_safetensors(path, {{"w", DType::F32, {4}, w, 16}});
  const Bytes before = read_bytes(path);
  const std::vector<std::vector<TensorToWrite>> bad = {
      {{"w", DType::F32, {5}, w, 16}},                          // nbytes mismatch
      {{"w", DType::F32, {4}, w, 16}, {"w", DType::F32, {4}, w, 16}},  // duplicate
      {{"q", DType::Q8_0, {32}, w, 34}},                        // no block types in safetensors
      {{"n", DType::F32, {-1}, w, 0}},                          // negative dimension
      {{"__metadata__", DType::F32, {4}, w, 16}},               // reserved name
      {{"p", DType::F32, {4}, nullptr, 16}},                    // no data
      {{"bad\xff", DType::F32, {4}, w, 16}},                    // name not UTF-8
  };
  for (const auto& tensors : bad) {
    EXPECT_NE(error_of([&] { write_safetensors(path, tensors); }).find(path), std::string::npos);
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.count(), 1u);
  const std::string missing = dir.file("no/such/dir/x.safetensors");
  EXPECT_NE(error_of([&] { write_safetensors(missing, {}); }).find(missing), std::string::npos);
}

// A write that fails halfway (file size limit) leaves the old file and no temporary.
TEST(SafetensorsWrite, FailedWriteIsAtomic) {
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  const float w[4] = {1, 2, 3, 4};
  write_safetensors(path, {{"w", DType::F32, {4}, w, 16}});
  const Bytes before = read_bytes(path);
  std::vector<float> big(1 << 16, 1.0f);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  auto prev = signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string msg = error_of(
      [&] { write_safetensors(path, {{"big", DType::F32, {1 << 16}, big.data(), big.size() * 4}}); });
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.count(), 1u);
}

// ---------------------------------------------------------------- bad single files

TEST(SafetensorsBad, Framing) {
  expect_bad({}, "empty", "empty");
  expect_bad({1, 2, 3, 4}, "short", "too small");
  Bytes b = st_bytes("{}", 0);
  const uint64_t huge = 100'000'001;
  std::memcpy(b.data(), &huge, 8);
  expect_bad(b, "header_over_limit", "exceeds the limit");
  const uint64_t past = b.size();  // one more than the bytes after the length field
  std::memcpy(b.data(), &past, 8);
  expect_bad(b, "header_past_end", "runs past the end");
  const uint64_t max = ~uint64_t(0);
  std::memcpy(b.data(), &max, 8);
  expect_bad(b, "header_len_max", "exceeds the limit");
}

TEST(SafetensorsBad, HeaderJson) {
  expect_bad_header("{\"a\":", 0, "invalid_json", "not valid JSON");
  expect_bad_header("", 0, "empty_json", "not valid JSON");
  expect_bad_header("{} trailing", 0, "trailing_garbage", "not valid JSON");
  expect_bad_header("[1,2]", 0, "array_header", "must be a JSON object");
  expect_bad_header("\"x\"", 0, "string_header", "must be a JSON object");
  expect_bad_header("{\"a\":\"\xff\"}", 0, "bad_utf8", "not valid JSON");
  expect_bad_header("{\"a\":1e400}", 0, "number_overflow", "not valid JSON");
  expect_bad_header(std::string(100, '[') + std::string(100, ']'), 0, "deep", "nested");
  expect_bad_header(R"({"__metadata__":[1]})", 0, "metadata_array", "__metadata__");
  expect_bad_header(R"({"__metadata__":{"a":1}})", 0, "metadata_int", "__metadata__ value");
  expect_bad_header(R"({"__metadata__":{"a":{"b":"c"}}})", 0, "metadata_nested", "__metadata__");
  expect_bad_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    8, "duplicate_name", "duplicate key 't'");
  expect_bad_header(R"({"t":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                    4, "duplicate_field", "duplicate key 'dtype'");
}

TEST(SafetensorsBad, Entries) {
  struct Case {
    std::string name, entry;
    size_t data;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"entry_not_object", R"([1])", 0, "must be an object"},
      {"no_dtype", R"({"shape":[1],"data_offsets":[0,4]})", 4, "'dtype'"},
      {"dtype_number", R"({"dtype":3,"shape":[1],"data_offsets":[0,4]})", 4, "'dtype'"},
      {"dtype_f8_e5m2", R"({"dtype":"F8_E5M2","shape":[1],"data_offsets":[0,1]})", 1,
       "tensor 't' has dtype F8_E5M2, which is not supported"},
      {"dtype_c64", R"({"dtype":"C64","shape":[1],"data_offsets":[0,8]})", 8, "not supported"},
      {"dtype_unknown", R"({"dtype":"Q4","shape":[1],"data_offsets":[0,1]})", 1,
       "unknown dtype 'Q4'"},
      {"dtype_lowercase", R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})", 4,
       "unknown dtype"},
      {"no_shape", R"({"dtype":"F32","data_offsets":[0,4]})", 4, "'shape'"},
      {"shape_negative", R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4, "negative"},
      {"shape_float", R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})", 4,
       "non-negative integer"},
      {"shape_string", R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})", 4,
       "non-negative integer"},
      {"shape_too_big", R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})",
       4, "non-negative integer"},
      {"shape_overflow",
       R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})", 4,
       "overflows"},
      {"no_offsets", R"({"dtype":"F32","shape":[1]})", 4, "data_offsets"},
      {"offsets_three", R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})", 8,
       "data_offsets"},
      {"offsets_negative", R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})", 4, "negative"},
      {"offsets_reversed", R"({"dtype":"F32","shape":[0],"data_offsets":[4,0]})", 4,
       "begin after end"},
      {"numel_mismatch", R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4,
       "needs 8"},
      {"offsets_past_end", R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})", 2,
       "past the end of the data section"},
      {"offsets_huge",
       R"({"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]})",
       4, "past the end"},
  };
  for (const Case& c : cases) {
    expect_bad_header("{\"t\":" + c.entry + "}", c.data, c.name, c.problem);
  }
}

TEST(SafetensorsBad, Tiling) {
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":)";
  const std::string b = R"("b":{"dtype":"F32","shape":[1],"data_offsets":)";
  expect_bad_header("{" + a + "[0,8]}," + b + "[4,8]}}", 8, "overlap", "overlapping");
  expect_bad_header("{" + a + "[0,8]}," + b + "[12,16]}}", 16, "gap", "gap");
  expect_bad_header("{" + a + "[4,12]}," + b + "[12,16]}}", 16, "first_not_zero", "gap");
  expect_bad_header("{" + a + "[0,8]}," + b + "[8,12]}}", 20, "trailing", "trailing");
  expect_bad_header("{" + a + "[0,8]}," + b + "[0,4]}}", 8, "same_begin", "overlapping");
  expect_bad_header("{}", 4, "no_tensors_but_data", "trailing");
  // Valid: listed out of order, and a zero-size tensor sitting between two others.
  TempDir dir;
  const std::string path = dir.file("ok.safetensors");
  write_file(path, st_bytes("{" + b + "[8,12]}," + a + "[0,8]}," +
                                R"("z":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})",
                            12));
  const auto f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].name, "b");
  EXPECT_EQ(f.tensors[0].data - f.tensors[1].data, 8);
  // An unpadded header is legal (alignment is the writer's courtesy).
  write_file(path, st_bytes("{" + a + "[0,8]}}", 8, /*pad=*/false));
  EXPECT_EQ(read_safetensors(path).tensors.size(), 1u);
  // "-0" is a JSON integer equal to zero, not a negative number.
  write_file(path, st_bytes(R"({"z":{"dtype":"F32","shape":[-0],"data_offsets":[0,-0]}})", 0));
  EXPECT_EQ(read_safetensors(path).tensors[0].nbytes, 0u);
}

// Every proper prefix of a valid file is invalid (the data section must be tiled exactly).
TEST(SafetensorsBad, EveryTruncationPoint) {
  const Bytes full = st_bytes(kValidHeader, kValidData);
  {
    std::unique_ptr<uint8_t[]> holder;
    const auto f = parse_safetensors(heap_storage("full.safetensors", full, holder));
    ASSERT_EQ(f.tensors.size(), 4u);
  }
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    std::unique_ptr<uint8_t[]> holder;
    const Bytes prefix(full.begin(), full.begin() + long(n));
    const std::string msg =
        error_of([&] { parse_safetensors(heap_storage("cut.safetensors", prefix, holder)); });
    ASSERT_EQ(msg.rfind("cut.safetensors: ", 0), 0u) << msg;
  }
}

TEST(SafetensorsBad, MutationFuzz) {
  const Bytes valid = st_bytes(kValidHeader, kValidData);
  std::mt19937_64 rng(7340033);
  static const char kJsonBytes[] = "{}[]\",:-0123456789eE. \\u";
  int ok = 0, rejected = 0;
  const int iterations = fuzz_iterations();
  for (int iter = 0; iter < iterations; ++iter) {
    Bytes b = valid;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: b[at] = uint8_t(rng()); break;
        case 2: b[at] = uint8_t(kJsonBytes[rng() % (sizeof kJsonBytes - 1)]); break;
        case 3: b[at] = uint8_t('0' + rng() % 10); break;  // shifts offsets and shapes
      }
    }
    if (rng() % 10 == 0) b.resize(rng() % b.size());
    std::unique_ptr<uint8_t[]> holder;
    try {
      const auto f = parse_safetensors(heap_storage("fuzz.safetensors", b, holder));
      size_t sum = 0;
      for (const Tensor& t : f.tensors) {
        for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
      }
      volatile size_t sink = sum;  // keep the reads
      (void)sink;
      ++ok;
    } catch (const Error& e) {
      ++rejected;
      ASSERT_EQ(std::string(e.what()).rfind("fuzz.safetensors", 0), 0u) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": non-Error exception " << e.what();
    }
  }
  EXPECT_GT(ok, 0);
  RecordProperty("accepted", ok);
  RecordProperty("rejected", rejected);
  EXPECT_GT(rejected, 0);
}

// ---------------------------------------------------------------- sharded checkpoints

class SafetensorsIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    const float a[2] = {1, 2}, b[3] = {3, 4, 5};
    write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                      {{"a", DType::F32, {2}, a, 8}});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                      {{"b", DType::F32, {3}, b, 12}, {"c", DType::F32, {1}, b, 4}});
  }
  std::string index(const std::string& weight_map) {
    const std::string path = dir.file("model.safetensors.index.json");
    write_text(path, R"({"metadata":{"total_size":24},"weight_map":)" + weight_map + "}");
    return path;
  }
  void expect_bad_index(const std::string& weight_map, const std::string& problem) {
    SCOPED_TRACE(weight_map);
    const std::string path = index(weight_map);
    const std::string msg = error_of([&] { read_safetensors_index(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << "wanted '" << problem << "' in: " << msg;
  }
  TempDir dir;
};

TEST_F(SafetensorsIndex, TwoShards) {
  const auto shards = read_safetensors_index(
      index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors",)"
            R"("c":"model-00002-of-00002.safetensors"})"));
  ASSERT_EQ(shards.size(), 2u);  // each shard mapped once
  EXPECT_EQ(shards[0].tensors.size(), 1u);
  EXPECT_EQ(shards[1].tensors.size(), 2u);
  EXPECT_EQ(shards[1].tensors[0].name, "b");
  float v;
  std::memcpy(&v, shards[1].tensors[0].data + 8, 4);
  EXPECT_EQ(v, 5.0f);
}

TEST_F(SafetensorsIndex, BadIndexes) {
  expect_bad_index(R"({"a":"model-00003-of-00002.safetensors"})", "does not exist");
  expect_bad_index(R"({"zz":"model-00001-of-00002.safetensors"})",
                   "tensor 'zz' is mapped to shard 'model-00001-of-00002.safetensors', which "
                   "does not contain it");
  expect_bad_index(R"({"b":"model-00001-of-00002.safetensors"})", "does not contain it");
  expect_bad_index(R"({"a":"../model-00001-of-00002.safetensors"})", "not a plain file name");
  expect_bad_index(R"({"a":"/etc/passwd"})", "not a plain file name");
  expect_bad_index(R"({"a":"sub/x.safetensors"})", "not a plain file name");
  expect_bad_index(R"({"a":".."})", "not a plain file name");
  expect_bad_index(R"({"a":""})", "not a plain file name");
  expect_bad_index(R"({"a":"x\\..\\y"})", "not a plain file name");
  expect_bad_index(R"({"a":1})", "not a string");
  expect_bad_index(R"({})", "no tensors");
  expect_bad_index(R"([])", "weight_map");
  expect_bad_index(R"("x")", "weight_map");
  const std::string path = dir.file("broken.index.json");
  write_text(path, "{\"weight_map\": {");
  EXPECT_NE(error_of([&] { read_safetensors_index(path); }).find(path), std::string::npos);
  write_text(path, "[1]");
  EXPECT_NE(error_of([&] { read_safetensors_index(path); }).find(path), std::string::npos);
  write_text(path, "{\"metadata\":{}}");
  EXPECT_NE(error_of([&] { read_safetensors_index(path); }).find("weight_map"), std::string::npos);
  const std::string missing = dir.file("missing.index.json");
  EXPECT_NE(error_of([&] { read_safetensors_index(missing); }).find(missing), std::string::npos);
}

// A corrupt shard is reported with the shard's own path.
TEST_F(SafetensorsIndex, CorruptShard) {
  write_text(dir.file("model-00001-of-00002.safetensors"), "garbage!garbage!");
  const std::string msg = error_of([&] {
    read_safetensors_index(index(R"({"a":"model-00001-of-00002.safetensors"})"));
  });
  EXPECT_NE(msg.find("model-00001-of-00002.safetensors"), std::string::npos) << msg;
}

}  // namespace
}  // namespace edgerun

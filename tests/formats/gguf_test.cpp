// GGUF reader: real files (stories260K, llama.cpp vocab files), a small file built here with
// every value type, one test per bad-input rule, every truncation point, and a mutation fuzz.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>

#include "core/error.h"
#include "formats/dtype_check.h"
#include "formats/gguf.h"
#include "../test_util.h"

#include "formats/format_test_util.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;
using namespace edgerun::test;  // Bytes, TempDir, error_of, ...

// ---------------------------------------------------------------- helpers


// Little-endian encoders for building GGUF bytes by hand.
struct Enc {
  Bytes b;
  template <class T>
  Enc& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Enc& u8(uint8_t v) { return put(v); }
  Enc& u32(uint32_t v) { return put(v); }
  Enc& u64(uint64_t v) { return put(v); }
  Enc& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
};

// One KV record: key, value type, then raw value bytes.
Bytes kv(const std::string& key, uint32_t type, const Bytes& value) {
  Enc e;
  e.str(key).u32(type);
  e.b.insert(e.b.end(), value.begin(), value.end());
  return e.b;
}
template <class T>
Bytes scalar(T v) { return Enc().put(v).b; }
Bytes string_value(const std::string& s) { return Enc().str(s).b; }
Bytes string_array(const std::vector<std::string>& v) {
  Enc e;
  e.u32(8).u64(v.size());
  for (const auto& s : v) e.str(s);
  return e.b;
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;
  uint64_t offset;
};

uint64_t spec_bytes(const TensorSpec& t) {
  uint64_t n = 1;
  for (uint64_t d : t.ne) n *= d;
  switch (t.type) {
    case 0: return n * 4;
    case 1: case 30: return n * 2;
    case 8: return n / 32 * 34;
    case 2: case 20: return n / 32 * 18;
    case 6: return n / 32 * 22;
    case 12: return n / 256 * 144;
    case 16: return n / 256 * 66;
    default: return n;
  }
}

// A GGUF file under construction; fields can be set to anything, valid or not.
struct GgufBuilder {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::vector<Bytes> kvs;
  std::vector<TensorSpec> tensors;
  uint64_t alignment = 32;
  std::optional<uint64_t> tensor_count, kv_count;  // override the real counts
  std::optional<uint64_t> blob_bytes;              // override the data blob size
  Bytes tail;                                      // appended raw bytes

  Bytes build() const {
    Enc e;
    e.u32(magic).u32(version);
    e.u64(tensor_count.value_or(tensors.size())).u64(kv_count.value_or(kvs.size()));
    for (const Bytes& k : kvs) e.b.insert(e.b.end(), k.begin(), k.end());
    for (const TensorSpec& t : tensors) {
      e.str(t.name).u32(uint32_t(t.ne.size()));
      for (uint64_t d : t.ne) e.u64(d);
      e.u32(t.type).u64(t.offset);
    }
    if (!tensors.empty()) {  // vocab-only files (no tensors) end here, unpadded
      while (e.b.size() % alignment) e.u8(0);
      const size_t blob = e.b.size();
      uint64_t end = 0;
      for (const TensorSpec& t : tensors) end = std::max(end, t.offset + spec_bytes(t));
      end = blob_bytes.value_or(end);
      e.b.resize(blob + end, 0);
      for (size_t i = 0; i < end; ++i) e.b[blob + i] = uint8_t(i * 7 + 1);  // recognisable
    }
    e.b.insert(e.b.end(), tail.begin(), tail.end());
    return e.b;
  }
};

// The small valid file used by most tests: every value type, a nested array, three tensors.
GgufBuilder valid_builder() {
  GgufBuilder g;
  g.kvs = {
      kv("general.architecture", 8, string_value("llama")),
      kv("llama.block_count", 4, scalar<uint32_t>(2)),
      kv("t.u8", 0, scalar<uint8_t>(200)),
      kv("t.i8", 1, scalar<int8_t>(-5)),
      kv("t.u16", 2, scalar<uint16_t>(60000)),
      kv("t.i16", 3, scalar<int16_t>(-30000)),
      kv("t.i32", 5, scalar<int32_t>(-7)),
      kv("t.f32", 6, scalar<float>(0.25f)),
      kv("t.bool", 7, scalar<uint8_t>(1)),
      kv("t.u64", 10, scalar<uint64_t>(uint64_t(1) << 40)),
      kv("t.i64", 11, scalar<int64_t>(-(int64_t(1) << 40))),
      kv("t.f64", 12, scalar<double>(1e-6)),
      kv("t.big", 10, scalar<uint64_t>(~uint64_t(0))),
      kv("tokenizer.ggml.tokens", 9, string_array({"<unk>", "a", "b c", ""})),
      kv("t.ints", 9, Enc().u32(5).u64(3).put<int32_t>(1).put<int32_t>(-2).put<int32_t>(3).b),
      // [[1, 2], []] as an array of UINT8 arrays
      kv("t.nested", 9, Enc().u32(9).u64(2).u32(0).u64(2).u8(1).u8(2).u32(0).u64(0).b),
  };
  g.tensors = {
      {"a.weight", {4, 3}, 0, 0},    // F32 [3, 4], 48 bytes
      {"b.weight", {8}, 1, 64},      // F16 [8], 16 bytes
      {"q.weight", {32, 2}, 8, 96},  // Q8_0 [2, 32], 68 bytes
  };
  return g;
}




// Writes `bytes` as <name>.gguf, opens it, and checks the Error names the file and the problem.
// The same bytes are also parsed from an exact-size heap buffer (ASan catches overreads).
void expect_bad(const Bytes& bytes, const std::string& name, const std::string& problem) {
  SCOPED_TRACE(name);
  TempDir dir;
  const std::string path = dir.file(name + ".gguf");
  write_file(path, bytes);
  const std::string msg = error_of([&] { GgufFile::open(path).tensors(); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(problem), std::string::npos) << "wanted '" << problem << "' in: " << msg;
  std::unique_ptr<uint8_t[]> holder;
  error_of([&] { GgufFile::parse(heap_storage("mem.gguf", bytes, holder)).tensors(); });
}

const GgufTensorInfo* info_named(const GgufFile& g, const std::string& name) {
  for (const auto& t : g.tensor_infos()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Tensor* tensor_named(const std::vector<Tensor>& ts, const std::string& name) {
  for (const auto& t : ts) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// ---------------------------------------------------------------- real files

TEST(GgufGolden, Stories260K) {
  const std::string path = test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf";
  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.path(), path);
  EXPECT_EQ(g.alignment(), 32u);  // no general.alignment key: the default
  EXPECT_EQ(g.data_offset(), 14176u);
  EXPECT_EQ(g.metadata().size(), 19u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 5);
  EXPECT_EQ(g.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(g.get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(g.get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(g.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(g.get_int("llama.context_length"), 2048);
  EXPECT_NEAR(g.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(g.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(g.get_int("tokenizer.ggml.eos_token_id"), 2);
  // llama.cpp's own spelling; 0xFFFFFFFF as UINT32 means "none".
  EXPECT_EQ(g.get_int("tokenizer.ggml.seperator_token_id"), 4294967295);
  EXPECT_EQ(g.get_float_or("llama.rope.freq_base", 10000.0), 10000.0);

  const auto tokens = g.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  const GgufValue* types = g.find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->array_type, GgufType::INT32);
  ASSERT_EQ(types->array.size(), 512u);
  EXPECT_EQ(types->array[0].as_int("t"), 2);  // unknown
  EXPECT_EQ(types->array[3].as_int("t"), 6);  // byte
  EXPECT_EQ(g.find("tokenizer.ggml.scores")->array_type, GgufType::FLOAT32);

  ASSERT_EQ(g.tensor_infos().size(), 48u);
  const auto tensors = g.tensors();
  ASSERT_EQ(tensors.size(), 48u);
  for (const Tensor& t : tensors) {
    EXPECT_EQ(t.dtype, DType::F32) << t.name;
    EXPECT_NO_THROW(require_supported_compute_type(t, path));
  }
  const Tensor* embd = tensor_named(tensors, "token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(embd->nbytes, 512u * 64 * 4);
  EXPECT_EQ(embd->data, g.storage()->data() + 14176);
  float first;
  std::memcpy(&first, embd->data, 4);
  EXPECT_FLOAT_EQ(first, -0.29474878f);
  EXPECT_EQ(tensor_named(tensors, "blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(tensor_named(tensors, "blk.0.ffn_gate.weight")->shape, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(tensor_named(tensors, "blk.4.attn_k.weight")->shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(tensor_named(tensors, "output_norm.weight")->shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(info_named(g, "blk.0.ffn_down.weight")->ne, (std::vector<uint64_t>{172, 64}));
  // The file stores output.weight although it equals token_embd.weight byte for byte.
  const Tensor* out = tensor_named(tensors, "output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(std::memcmp(out->data, embd->data, embd->nbytes), 0);
}

TEST(GgufGolden, DefaultModelCopyParses) {
  const GgufFile g = GgufFile::open(test::source_dir() + "/models/stories260K/stories260K.gguf");
  EXPECT_EQ(g.tensor_infos().size(), 48u);
}

TEST(GgufGolden, VocabOnlyFiles) {
  const std::string dir = test::golden_dir() + "/tokenizer/llamacpp-vectors/";
  const GgufFile gpt2 = GgufFile::open(dir + "ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2.get_string("general.architecture"), "gpt2");
  EXPECT_EQ(gpt2.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gpt2.get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(gpt2.get_string_array("tokenizer.ggml.tokens").size(), 50257u);
  const auto merges = gpt2.get_string_array("tokenizer.ggml.merges");
  ASSERT_EQ(merges.size(), 50000u);
  EXPECT_EQ(merges[0], "\xC4\xA0 t");  // "Ġ t"
  EXPECT_EQ(gpt2.get_int("tokenizer.ggml.eos_token_id"), 50256);
  EXPECT_TRUE(gpt2.tensor_infos().empty());
  EXPECT_TRUE(gpt2.tensors().empty());
  // The file ends right after the metadata; the (empty) data blob would start past the end.
  EXPECT_GT(gpt2.data_offset(), gpt2.storage()->size());

  const GgufFile spm = GgufFile::open(dir + "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(spm.get_string_array("tokenizer.ggml.tokens").size(), 32000u);
  EXPECT_TRUE(spm.get_bool_or("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(spm.get_bool_or("tokenizer.ggml.add_eos_token", true));
  EXPECT_TRUE(spm.get_bool_or("tokenizer.ggml.absent", true));
}

// ---------------------------------------------------------------- a small valid file

TEST(GgufValid, EveryValueTypeAndTensorViews) {
  TempDir dir;
  const std::string path = dir.file("small.gguf");
  write_file(path, valid_builder().build());
  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 2);
  EXPECT_EQ(g.get_int("t.u8"), 200);
  EXPECT_EQ(g.get_int("t.i8"), -5);
  EXPECT_EQ(g.get_int("t.u16"), 60000);
  EXPECT_EQ(g.get_int("t.i16"), -30000);
  EXPECT_EQ(g.get_int("t.i32"), -7);
  EXPECT_EQ(g.get_float("t.f32"), 0.25);
  EXPECT_EQ(g.get_float("t.i32"), -7.0);  // integers widen to float
  EXPECT_TRUE(g.get_bool_or("t.bool", false));
  EXPECT_EQ(g.get_int("t.u64"), int64_t(1) << 40);
  EXPECT_EQ(g.get_int("t.i64"), -(int64_t(1) << 40));
  EXPECT_DOUBLE_EQ(g.get_float("t.f64"), 1e-6);
  EXPECT_EQ(g.find("t.big")->u, ~uint64_t(0));
  EXPECT_TRUE(g.find("t.u8")->is_integer());
  EXPECT_FALSE(g.find("t.f32")->is_integer());
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"<unk>", "a", "b c", ""}));
  const GgufValue* ints = g.find("t.ints");
  ASSERT_EQ(ints->array.size(), 3u);
  EXPECT_EQ(ints->array[1].as_int("t.ints"), -2);
  const GgufValue* nested = g.find("t.nested");
  EXPECT_EQ(nested->array_type, GgufType::ARRAY);
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].array_type, GgufType::UINT8);
  ASSERT_EQ(nested->array[0].array.size(), 2u);
  EXPECT_EQ(nested->array[0].array[1].u, 2u);
  EXPECT_TRUE(nested->array[1].array.empty());
  // Fallbacks apply only to absent keys; a wrong type still fails, naming file and key.
  EXPECT_EQ(g.get_int_or("nope", 42), 42);
  EXPECT_EQ(g.get_string_or("nope", "x"), "x");
  for (auto f : std::vector<std::function<void()>>{
           [&] { g.get_int("general.architecture"); },
           [&] { g.get_int_or("general.architecture", 1); },
           [&] { g.get_string("t.u8"); },
           [&] { g.get_float("tokenizer.ggml.tokens"); },
           [&] { g.get_bool_or("t.u8", false); },
           [&] { g.get_string_array("t.ints"); },
           [&] { g.get_int("t.big"); },  // does not fit in int64
           [&] { g.get_string("missing.key"); }}) {
    const std::string msg = error_of(f);
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { g.find("t.f64")->as_int("t.f64"); }).find("t.f64"), std::string::npos);

  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  const auto ts = g.tensors();
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_EQ(ts[0].name, "a.weight");
  EXPECT_EQ(ts[0].shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ts[0].dtype, DType::F32);
  EXPECT_EQ(ts[0].nbytes, 48u);
  EXPECT_EQ(ts[0].data, g.storage()->data() + g.data_offset());
  EXPECT_EQ(ts[0].data[0], 1);  // the builder's byte pattern starts at 1
  EXPECT_EQ(ts[1].dtype, DType::F16);
  EXPECT_EQ(ts[1].data - ts[0].data, 64);
  EXPECT_EQ(ts[2].dtype, DType::Q8_0);
  EXPECT_EQ(ts[2].shape, (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(ts[2].nbytes, 68u);
  EXPECT_EQ(ts[2].row_bytes(), 34u);
  EXPECT_NO_THROW(require_supported_compute_type(ts[0], path));
  EXPECT_NO_THROW(require_supported_compute_type(ts[1], path));
  EXPECT_EQ(error_of([&] { require_supported_compute_type(ts[2], path); }),
            path + ": tensor 'q.weight' has type Q8_0, which this build cannot compute with yet "
                   "(supported: F32, F16, BF16)");
}

TEST(GgufValid, Version2CustomAlignmentAndNoTensors) {
  GgufBuilder g = valid_builder();
  g.version = 2;
  g.alignment = 64;
  g.kvs.push_back(kv("general.alignment", 4, scalar<uint32_t>(64)));
  g.tensors = {{"x", {16}, 0, 0}, {"y", {2, 2}, 30, 64}};
  std::unique_ptr<uint8_t[]> holder;
  const GgufFile f = GgufFile::parse(heap_storage("v2.gguf", g.build(), holder));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensors()[1].dtype, DType::BF16);

  GgufBuilder empty;  // no tensors, no metadata: a valid (if useless) file
  const GgufFile e = GgufFile::parse(heap_storage("empty.gguf", empty.build(), holder));
  EXPECT_TRUE(e.metadata().empty());
  EXPECT_TRUE(e.tensors().empty());
}

TEST(GgufValid, QuantizedViewsAndUnsupportedTypes) {
  GgufBuilder g;
  g.tensors = {{"blk.0.attn_q.weight", {32, 2}, 2, 0},     // Q4_0
               {"blk.0.attn_k.weight", {256, 1}, 12, 64},  // Q4_K
               {"blk.0.ffn_up.weight", {32}, 6, 256}};     // Q5_0: known, but no engine dtype
  TempDir dir;
  const std::string path = dir.file("q.gguf");
  write_file(path, g.build());
  const GgufFile f = GgufFile::open(path);  // metadata and shapes stay readable
  ASSERT_EQ(f.tensor_infos().size(), 3u);
  std::string msg = error_of([&] { f.tensors(); });
  EXPECT_NE(msg.find(path), std::string::npos);
  EXPECT_NE(msg.find("'blk.0.ffn_up.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Q5_0"), std::string::npos) << msg;

  g.tensors.pop_back();
  write_file(path, g.build());
  const auto ts = GgufFile::open(path).tensors();
  EXPECT_EQ(ts[0].dtype, DType::Q4_0);
  EXPECT_EQ(ts[0].nbytes, 36u);
  EXPECT_EQ(ts[1].dtype, DType::Q4_K);
  EXPECT_EQ(ts[1].row_bytes(), 144u);
  EXPECT_EQ(error_of([&] { require_supported_compute_type(ts[0], path); }),
            path + ": tensor 'blk.0.attn_q.weight' has type Q4_0, which this build cannot "
                   "compute with yet (supported: F32, F16, BF16)");

  g.tensors = {{"iq", {256}, 16, 0}};  // IQ2_XXS
  write_file(path, g.build());
  msg = error_of([&] { GgufFile::open(path).tensors(); });
  EXPECT_NE(msg.find("IQ2_XXS"), std::string::npos) << msg;
}

TEST(GgufValid, TypeNames) {
  EXPECT_EQ(ggml_type_name(0), "F32");
  EXPECT_EQ(ggml_type_name(14), "Q6_K");
  EXPECT_EQ(ggml_type_name(30), "BF16");
  EXPECT_EQ(ggml_type_name(39), "MXFP4");
  EXPECT_EQ(ggml_type_name(1000), "type 1000");
}

// ---------------------------------------------------------------- bad inputs

TEST(GgufBad, HeaderProblems) {
  expect_bad({}, "empty", "empty");
  expect_bad({'G', 'G', 'U'}, "tiny", "too small");
  GgufBuilder g = valid_builder();
  g.magic = 0x4c4d4747;  // "GGML"
  expect_bad(g.build(), "magic", "not a GGUF file");
  g = valid_builder();
  g.version = 1;
  expect_bad(g.build(), "v1", "version 1 is not supported");
  g.version = 99;
  expect_bad(g.build(), "v99", "unsupported GGUF version 99");
  g.version = 0x03000000;
  expect_bad(g.build(), "bigendian", "big-endian");
}

TEST(GgufBad, AbsurdCounts) {
  GgufBuilder g = valid_builder();
  g.tensor_count = ~uint64_t(0);
  expect_bad(g.build(), "tensors_max", "tensor count");
  g.tensor_count = uint64_t(1) << 40;
  expect_bad(g.build(), "tensors_2e40", "tensor count");
  g = valid_builder();
  g.kv_count = ~uint64_t(0);
  expect_bad(g.build(), "kv_max", "metadata count");
  g.kv_count = g.kvs.size() + 1;  // plausible, but the next "key" is tensor info bytes
  expect_bad(g.build(), "kv_plus1", "");
  g = valid_builder();
  g.tensor_count = g.tensors.size() + 1;
  expect_bad(g.build(), "tensors_plus1", "");
}

TEST(GgufBad, Strings) {
  GgufBuilder g;
  g.tail = Bytes(64, 0);
  g.kvs = {Enc().u64(1000).b};  // key length past the end of the file
  expect_bad(g.build(), "key_truncated", "remain");
  g.kvs = {Enc().u64(~uint64_t(0)).b};
  expect_bad(g.build(), "key_len_overflow", "remain");
  g.kvs = {kv("k", 8, Enc().u64(~uint64_t(0) - 3).b)};
  expect_bad(g.build(), "value_len_overflow", "remain");
  g.kvs = {kv("k", 8, Enc().u64(~uint64_t(0)).b)};
  expect_bad(g.build(), "value_len_max", "remain");
  g.tail.clear();
  g.kvs = {kv("k", 8, Enc().u64(5).u8('a').b)};
  expect_bad(g.build(), "value_truncated", "remain");
  g.kvs = {kv(std::string(70000, 'k'), 0, scalar<uint8_t>(1))};
  expect_bad(g.build(), "key_too_long", "at most 65535");
  g.kvs = {kv("", 0, scalar<uint8_t>(1))};
  expect_bad(g.build(), "key_empty", "empty");
  g.kvs = {kv("k", 0, scalar<uint8_t>(1)), kv("k", 4, scalar<uint32_t>(2))};
  expect_bad(g.build(), "key_duplicate", "duplicate metadata key 'k'");
  g.kvs = {kv("k", 9, Enc().u32(8).u64(2).str("a").u64(1 << 20).b)};
  expect_bad(g.build(), "array_string_truncated", "remain");
}

TEST(GgufBad, Values) {
  GgufBuilder g;
  g.kvs = {kv("k", 13, scalar<uint32_t>(0))};
  expect_bad(g.build(), "type13", "unknown value type 13");
  g.kvs = {kv("k", 0xffffffff, scalar<uint32_t>(0))};
  expect_bad(g.build(), "type_max", "unknown value type");
  g.kvs = {kv("k", 9, Enc().u32(77).u64(1).u8(0).b)};
  expect_bad(g.build(), "array_elem_type", "unknown array element type 77");
  g.kvs = {kv("k", 9, Enc().u32(0).u64(~uint64_t(0)).b)};
  expect_bad(g.build(), "array_count_max", "cannot fit");
  g.kvs = {kv("k", 9, Enc().u32(12).u64(1000).put<double>(1).b)};
  expect_bad(g.build(), "array_count_short", "cannot fit");
  Enc deep;  // 5 levels of arrays
  for (int i = 0; i < 4; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(1).u8(0);
  g.kvs = {kv("k", 9, deep.b)};
  expect_bad(g.build(), "array_too_deep", "nested");
  g.kvs = {kv("k", 7, scalar<uint8_t>(2))};
  expect_bad(g.build(), "bool2", "not 0 or 1");
  g.kvs = {kv("k", 12, Enc().u32(0).b)};  // FLOAT64 cut short
  expect_bad(g.build(), "f64_truncated", "truncated");
}

TEST(GgufBad, Alignment) {
  const std::vector<std::pair<std::string, Bytes>> cases = {
      {"align0", kv("general.alignment", 4, scalar<uint32_t>(0))},
      {"align3", kv("general.alignment", 4, scalar<uint32_t>(3))},
      {"align48", kv("general.alignment", 4, scalar<uint32_t>(48))},
      {"align_neg", kv("general.alignment", 5, scalar<int32_t>(-32))},
      {"align_str", kv("general.alignment", 8, string_value("32"))},
      {"align_f32", kv("general.alignment", 6, scalar<float>(32))},
  };
  for (const auto& [name, rec] : cases) {
    GgufBuilder g = valid_builder();
    g.kvs.push_back(rec);
    expect_bad(g.build(), name, "general.alignment");
  }
  GgufBuilder g = valid_builder();  // huge but a power of two: the blob start overflows
  g.kvs.push_back(kv("general.alignment", 10, scalar<uint64_t>(uint64_t(1) << 63)));
  expect_bad(g.build(), "align_huge", "runs past the end");
}

TEST(GgufBad, TensorInfos) {
  struct Case {
    std::string name;
    TensorSpec spec;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"ndims0", {"t", {}, 0, 0}, "0 dimensions"},
      {"ndims5", {"t", {1, 1, 1, 1, 1}, 0, 0}, "5 dimensions"},
      {"ne0", {"t", {4, 0}, 0, 0}, "invalid ne[1] = 0"},
      {"ne_huge", {"t", {~uint64_t(0)}, 0, 0}, "invalid ne[0]"},
      {"numel_overflow", {"t", {1ull << 32, 1ull << 32}, 0, 0}, "overflows"},
      {"bytes_overflow", {"t", {1ull << 62}, 0, 0}, "byte size overflows"},
      {"type31", {"t", {4}, 31, 0}, "Q4_0_4_4"},
      {"type4", {"t", {4}, 4, 0}, "unknown or retired ggml type"},
      {"type_unknown", {"t", {4}, 1000, 0}, "type 1000"},
      {"block_multiple", {"t", {16}, 8, 0}, "not a multiple of the Q8_0 block size 32"},
      {"offset_misaligned", {"t", {4}, 0, 4}, "not a multiple of the alignment"},
      {"offset_out_of_range", {"t", {4}, 0, 1 << 20}, "runs past the end"},
      {"offset_overflow", {"t", {4}, 0, ~uint64_t(31)}, "runs past the end"},
      {"name_empty", {"", {4}, 0, 0}, "empty name"},
      {"name_too_long", {std::string(65, 'n'), {4}, 0, 0}, "at most 64"},
  };
  for (const Case& c : cases) {
    GgufBuilder g = valid_builder();
    g.tensors.push_back(c.spec);
    g.blob_bytes = 164;  // what the three valid tensors need: range errors are real
    const Bytes bytes = g.build();
    expect_bad(bytes, c.name, c.problem);
  }
  GgufBuilder g = valid_builder();
  g.tensors.push_back({"a.weight", {4}, 0, 192});
  expect_bad(g.build(), "name_duplicate", "duplicate tensor 'a.weight'");
  g = valid_builder();
  g.tensors[1].offset = 32;  // b.weight [32, 48) overlaps a.weight [0, 48)
  expect_bad(g.build(), "overlap", "overlap");
}

// Every proper prefix of a valid file is invalid (its last tensor ends at the end of the file).
TEST(GgufBad, EveryTruncationPoint) {
  const Bytes full = valid_builder().build();
  {
    std::unique_ptr<uint8_t[]> holder;
    ASSERT_NO_THROW(GgufFile::parse(heap_storage("full.gguf", full, holder)).tensors());
  }
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    std::unique_ptr<uint8_t[]> holder;
    const Bytes prefix(full.begin(), full.begin() + long(n));
    const std::string msg =
        error_of([&] { GgufFile::parse(heap_storage("cut.gguf", prefix, holder)).tensors(); });
    ASSERT_EQ(msg.rfind("cut.gguf: ", 0), 0u) << msg;
  }
}

// Random byte mutations of the valid file: each parse either succeeds (and its views are
// in bounds — ASan checks the reads) or throws edgerun::Error. Never anything else.
TEST(GgufBad, MutationFuzz) {
  const Bytes valid = valid_builder().build();
  std::mt19937_64 rng(20240611);
  int ok = 0, rejected = 0;
  const int iterations = fuzz_iterations();
  for (int iter = 0; iter < iterations; ++iter) {
    Bytes b = valid;
    const int edits = 1 + int(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: b[at] = uint8_t(rng()); break;
        case 2: b[at] = (rng() & 1) ? 0xff : 0x00; break;
        case 3:  // an "interesting" u64 (edge of a count or length field)
          for (size_t k = 0; k < 8 && at + k < b.size(); ++k) {
            static const uint64_t vals[] = {0, 1, 0x7fffffffffffffffull, ~0ull, 1ull << 32, 64};
            b[at + k] = uint8_t(vals[iter % 6] >> (8 * k));
          }
          break;
      }
    }
    if (rng() % 10 == 0) b.resize(rng() % b.size());
    std::unique_ptr<uint8_t[]> holder;
    try {
      const GgufFile g = GgufFile::parse(heap_storage("fuzz.gguf", b, holder));
      size_t sum = g.metadata().size();
      for (const Tensor& t : g.tensors()) {
        for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
      }
      volatile size_t sink = sum;  // keep the reads
      (void)sink;
      ++ok;
    } catch (const Error& e) {
      ++rejected;
      ASSERT_EQ(std::string(e.what()).rfind("fuzz.gguf", 0), 0u) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": non-Error exception " << e.what();
    }
  }
  RecordProperty("accepted", ok);
  RecordProperty("rejected", rejected);
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(ok + rejected, iterations);
}

}  // namespace
}  // namespace edgerun

// GGUF writer: everything it writes (every metadata value type, nested and typed arrays,
// tensors of several ggml types, custom alignment, streamed data) reads back identically with
// the GGUF reader; misuse is refused with an Error before a bad file can be produced.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <functional>
#include <filesystem>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "test_util.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

GgufValue scalar_u(GgufType t, uint64_t u) {
  GgufValue v;
  v.type = t;
  v.u = u;
  return v;
}
GgufValue scalar_i(GgufType t, int64_t i) {
  GgufValue v;
  v.type = t;
  v.i = i;
  return v;
}
GgufValue scalar_f(GgufType t, double f) {
  GgufValue v;
  v.type = t;
  v.f = f;
  return v;
}
GgufValue string_value(const std::string& s) {
  GgufValue v;
  v.type = GgufType::STRING;
  v.str = s;
  return v;
}
GgufValue array_of(GgufType elem, std::vector<GgufValue> items) {
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.array_type = elem;
  v.array = std::move(items);
  return v;
}

void expect_same(const GgufValue& got, const GgufValue& want, const std::string& key) {
  ASSERT_EQ(int(got.type), int(want.type)) << key;
  switch (want.type) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64: case GgufType::BOOL:
      EXPECT_EQ(got.u, want.u) << key;
      break;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
      EXPECT_EQ(got.i, want.i) << key;
      break;
    case GgufType::FLOAT32: EXPECT_EQ(float(got.f), float(want.f)) << key; break;
    case GgufType::FLOAT64: EXPECT_EQ(got.f, want.f) << key; break;
    case GgufType::STRING: EXPECT_EQ(got.str, want.str) << key; break;
    case GgufType::ARRAY:
      ASSERT_EQ(int(got.array_type), int(want.array_type)) << key;
      ASSERT_EQ(got.array.size(), want.array.size()) << key;
      for (size_t i = 0; i < want.array.size(); ++i) expect_same(got.array[i], want.array[i], key + "[" + std::to_string(i) + "]");
      break;
  }
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  TempDir dir;
  std::vector<std::pair<std::string, GgufValue>> want = {
      {"t.u8", scalar_u(GgufType::UINT8, 255)},
      {"t.i8", scalar_i(GgufType::INT8, -128)},
      {"t.u16", scalar_u(GgufType::UINT16, 65535)},
      {"t.i16", scalar_i(GgufType::INT16, -32768)},
      {"t.u32", scalar_u(GgufType::UINT32, 0xffffffffu)},
      {"t.i32", scalar_i(GgufType::INT32, std::numeric_limits<int32_t>::min())},
      {"t.u64", scalar_u(GgufType::UINT64, std::numeric_limits<uint64_t>::max())},
      {"t.i64", scalar_i(GgufType::INT64, std::numeric_limits<int64_t>::min())},
      {"t.f32", scalar_f(GgufType::FLOAT32, 1e-6)},
      {"t.f64", scalar_f(GgufType::FLOAT64, -3.141592653589793)},
      {"t.bool_true", scalar_u(GgufType::BOOL, 1)},
      {"t.bool_false", scalar_u(GgufType::BOOL, 0)},
      {"t.string", string_value("h\xC3\xA9llo \xF0\x9F\xA6\x99 {{ jinja }}")},
      {"t.string_empty", string_value("")},
      {"t.string_nul", string_value(std::string("a\0b", 3))},
      {"t.arr_u8", array_of(GgufType::UINT8, {scalar_u(GgufType::UINT8, 0), scalar_u(GgufType::UINT8, 200)})},
      {"t.arr_i64", array_of(GgufType::INT64, {scalar_i(GgufType::INT64, -1), scalar_i(GgufType::INT64, 1LL << 40)})},
      {"t.arr_f64", array_of(GgufType::FLOAT64, {scalar_f(GgufType::FLOAT64, 0.1)})},
      {"t.arr_bool", array_of(GgufType::BOOL, {scalar_u(GgufType::BOOL, 1), scalar_u(GgufType::BOOL, 0)})},
      {"t.arr_empty", array_of(GgufType::UINT32, {})},
      {"t.arr_nested", array_of(GgufType::ARRAY, {array_of(GgufType::STRING, {string_value("x"), string_value("")}),
                                                 array_of(GgufType::STRING, {})})},
  };
  const std::vector<std::string> strings = {"Ġt", "", "<|im_start|>", "a b"};
  const std::vector<int32_t> ints = {1, 3, -4, std::numeric_limits<int32_t>::max()};
  const std::vector<float> floats = {0.5f, -0.0f, 1e30f};

  GgufWriter w;
  for (const auto& [key, value] : want) w.set(key, value);
  w.set_u8("s.u8", 7);
  w.set_i8("s.i8", -7);
  w.set_u16("s.u16", 700);
  w.set_i16("s.i16", -700);
  w.set_u32("s.u32", 70000);
  w.set_i32("s.i32", -70000);
  w.set_u64("s.u64", 1ULL << 50);
  w.set_i64("s.i64", -(1LL << 50));
  w.set_f32("s.f32", 0.25f);
  w.set_f64("s.f64", 1e300);
  w.set_bool("s.bool", true);
  w.set_string("s.string", "tokenizer");
  w.set_string_array("s.strings", strings);
  w.set_i32_array("s.ints", ints);
  w.set_f32_array("s.floats", floats);
  const std::string path = dir.file("meta.gguf");
  w.write_file(path, {});

  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.metadata().size(), want.size() + 15);
  EXPECT_EQ(fs::file_size(path), w.file_size());
  for (const auto& [key, value] : want) {
    const GgufValue* got = g.find(key);
    ASSERT_NE(got, nullptr) << key;
    expect_same(*got, value, key);
  }
  EXPECT_EQ(int(g.find("s.u8")->type), int(GgufType::UINT8));
  EXPECT_EQ(g.get_int("s.u8"), 7);
  EXPECT_EQ(int(g.find("s.i8")->type), int(GgufType::INT8));
  EXPECT_EQ(g.get_int("s.i8"), -7);
  EXPECT_EQ(int(g.find("s.u16")->type), int(GgufType::UINT16));
  EXPECT_EQ(g.get_int("s.u16"), 700);
  EXPECT_EQ(int(g.find("s.i16")->type), int(GgufType::INT16));
  EXPECT_EQ(g.get_int("s.i16"), -700);
  EXPECT_EQ(int(g.find("s.u32")->type), int(GgufType::UINT32));
  EXPECT_EQ(g.get_int("s.u32"), 70000);
  EXPECT_EQ(int(g.find("s.i32")->type), int(GgufType::INT32));
  EXPECT_EQ(g.get_int("s.i32"), -70000);
  EXPECT_EQ(int(g.find("s.u64")->type), int(GgufType::UINT64));
  EXPECT_EQ(g.get_int("s.u64"), 1LL << 50);
  EXPECT_EQ(int(g.find("s.i64")->type), int(GgufType::INT64));
  EXPECT_EQ(g.get_int("s.i64"), -(1LL << 50));
  EXPECT_EQ(int(g.find("s.f32")->type), int(GgufType::FLOAT32));
  EXPECT_EQ(g.get_float("s.f32"), 0.25);
  EXPECT_EQ(int(g.find("s.f64")->type), int(GgufType::FLOAT64));
  EXPECT_EQ(g.get_float("s.f64"), 1e300);
  EXPECT_TRUE(g.get_bool_or("s.bool", false));
  EXPECT_EQ(g.get_string("s.string"), "tokenizer");
  EXPECT_EQ(g.get_string_array("s.strings"), strings);
  const GgufValue* iv = g.find("s.ints");
  ASSERT_EQ(int(iv->array_type), int(GgufType::INT32));
  ASSERT_EQ(iv->array.size(), ints.size());
  for (size_t i = 0; i < ints.size(); ++i) EXPECT_EQ(iv->array[i].i, ints[i]);
  const GgufValue* fv = g.find("s.floats");
  ASSERT_EQ(int(fv->array_type), int(GgufType::FLOAT32));
  ASSERT_EQ(fv->array.size(), floats.size());
  for (size_t i = 0; i < floats.size(); ++i) {
    const float got = float(fv->array[i].f);
    EXPECT_EQ(std::memcmp(&floats[i], &got, 4), 0) << i;  // bit-exact (-0.0 included)
  }
  EXPECT_TRUE(g.tensor_infos().empty());
}

TEST(GgufWriter, CopiesAReadFileKeyForKey) {
  // What the reader produces can be written again unchanged (re-quantization copies metadata).
  TempDir dir;
  GgufWriter a;
  a.set_string_array("x.tokens", {"a", "b"});
  a.set("x.nested", array_of(GgufType::ARRAY, {array_of(GgufType::INT16, {scalar_i(GgufType::INT16, -5)})}));
  a.set_f64("x.f64", 2.5);
  a.write_file(dir.file("a.gguf"), {});
  const GgufFile ga = GgufFile::open(dir.file("a.gguf"));
  GgufWriter b;
  for (const auto& [key, value] : ga.metadata()) b.set(key, value);
  b.write_file(dir.file("b.gguf"), {});
  const GgufFile gb = GgufFile::open(dir.file("b.gguf"));
  ASSERT_EQ(ga.metadata().size(), gb.metadata().size());
  for (const auto& [key, value] : ga.metadata()) expect_same(*gb.find(key), value, key);
}

struct TestTensor {
  std::string name;
  uint32_t type;
  std::vector<uint64_t> ne;
  std::vector<uint8_t> bytes;
};

std::vector<TestTensor> sample_tensors() {
  std::vector<TestTensor> ts = {
      {"a.f32", 0, {3, 5}, {}},          // 60 bytes: the next tensor needs padding
      {"b.q8_0", 8, {64, 2}, {}},        // 4 blocks of 34 bytes
      {"c.f16", 1, {7}, {}},             // 14 bytes
      {"d.bf16", 30, {2, 3, 2, 1}, {}},  // 4-D
      {"e.q6_k", 14, {256}, {}},         // one super-block (210 bytes)
  };
  for (size_t k = 0; k < ts.size(); ++k) {
    uint32_t be = 0, bb = 0;
    ggml_type_block(ts[k].type, be, bb);
    uint64_t n = 1;
    for (uint64_t d : ts[k].ne) n *= d;
    ts[k].bytes.resize(size_t(n / be * bb));
    for (size_t i = 0; i < ts[k].bytes.size(); ++i) ts[k].bytes[i] = uint8_t(i * 31 + k * 7 + 1);
  }
  return ts;
}

void check_tensors(const std::string& path, const std::vector<TestTensor>& ts, uint64_t alignment) {
  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.alignment(), alignment);
  EXPECT_EQ(g.data_offset() % alignment, 0u);
  ASSERT_EQ(g.tensor_infos().size(), ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const GgufTensorInfo& info = g.tensor_infos()[k];
    EXPECT_EQ(info.name, ts[k].name);
    EXPECT_EQ(info.ggml_type, ts[k].type);
    EXPECT_EQ(info.ne, ts[k].ne);
    EXPECT_EQ(info.offset % alignment, 0u) << info.name;
    const uint8_t* data = g.storage()->data() + g.data_offset() + info.offset;
    EXPECT_EQ(std::memcmp(data, ts[k].bytes.data(), ts[k].bytes.size()), 0) << info.name;
  }
  // The engine's tensor views agree (shape reversed to PyTorch order).
  const std::vector<Tensor> views = g.tensors();
  EXPECT_EQ(views[0].shape, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(views[3].shape, (std::vector<int64_t>{1, 2, 3, 2}));
}

TEST(GgufWriter, TensorsAreAlignedAndReadBack) {
  TempDir dir;
  const std::vector<TestTensor> ts = sample_tensors();
  for (uint32_t alignment : {32u, 64u, 8u}) {
    GgufWriter w;
    if (alignment != 32) w.set_alignment(alignment);
    w.set_string("general.architecture", "test");
    std::vector<const void*> data;
    for (const TestTensor& t : ts) {
      w.add_tensor(t.name, t.type, t.ne);
      data.push_back(t.bytes.data());
    }
    EXPECT_EQ(w.tensor_bytes(1), 4u * 34u);
    const std::string path = dir.file("t" + std::to_string(alignment) + ".gguf");
    w.write_file(path, data);
    EXPECT_EQ(fs::file_size(path), w.file_size());
    check_tensors(path, ts, alignment);
    const GgufFile g = GgufFile::open(path);
    if (alignment != 32) EXPECT_EQ(g.get_int("general.alignment"), alignment);
  }
}

TEST(GgufWriter, StreamsDataInArbitraryPieces) {
  TempDir dir;
  const std::vector<TestTensor> ts = sample_tensors();
  GgufWriter w;
  std::vector<uint8_t> all;
  for (const TestTensor& t : ts) {
    w.add_tensor(t.name, t.type, t.ne);
    all.insert(all.end(), t.bytes.begin(), t.bytes.end());
  }
  const std::string path = dir.file("s.gguf");
  w.open(path);
  // Pieces of 1, 2, 3, ... bytes: they straddle tensor boundaries everywhere.
  size_t at = 0, piece = 1;
  while (at < all.size()) {
    const size_t n = std::min(piece++, all.size() - at);
    w.write_data(all.data() + at, n);
    at += n;
  }
  EXPECT_EQ(w.current_tensor(), ts.size());
  w.finish();
  check_tensors(path, ts, 32);
}

TEST(GgufWriter, ReplacingAKeyKeepsOneEntry) {
  TempDir dir;
  GgufWriter w;
  w.set_u32("k", 1);
  w.set_string("k", "two");
  w.set_u32("other", 3);
  w.remove("other");
  EXPECT_TRUE(w.has("k"));
  EXPECT_FALSE(w.has("other"));
  EXPECT_EQ(w.metadata_count(), 1u);
  w.write_file(dir.file("r.gguf"), {});
  const GgufFile g = GgufFile::open(dir.file("r.gguf"));
  EXPECT_EQ(g.metadata().size(), 1u);
  EXPECT_EQ(g.get_string("k"), "two");
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(GgufWriter, RefusesMisuse) {
  TempDir dir;
  expect_error([] { GgufWriter().add_tensor("x", 0, {}); }, "1 to 4 dimensions");
  expect_error([] { GgufWriter().add_tensor("x", 0, {1, 1, 1, 1, 1}); }, "1 to 4 dimensions");
  expect_error([] { GgufWriter().add_tensor("x", 0, {0}); }, "empty");
  expect_error([] { GgufWriter().add_tensor(std::string(65, 'n'), 0, {1}); }, "1 to 64 bytes");
  expect_error([] { GgufWriter().add_tensor("", 0, {1}); }, "1 to 64 bytes");
  expect_error([] { GgufWriter().add_tensor("x", 8, {48, 2}); }, "not a multiple of the Q8_0 block size 32");
  expect_error([] { GgufWriter().add_tensor("x", 4, {32}); }, "unknown or retired ggml type 4");
  expect_error([] { GgufWriter().add_tensor("x", 99, {32}); }, "unknown or retired ggml type 99");
  expect_error([] {
    GgufWriter w;
    w.add_tensor("x", 0, {1});
    w.add_tensor("x", 0, {1});
  }, "declared twice");
  expect_error([] { GgufWriter().set_alignment(12); }, "not a power of two");
  expect_error([] { GgufWriter().set_alignment(4); }, "not a power of two >= 8");
  expect_error([] { GgufWriter().set("k", scalar_u(GgufType::BOOL, 2)); }, "not 0 or 1");
  expect_error([] { GgufWriter().set("k", array_of(GgufType::UINT8, {scalar_i(GgufType::INT8, 1)})); }, "holds a INT8");
  expect_error([] { GgufWriter().set_u32("", 1); }, "1 to 65535 bytes");
  expect_error([&] {
    GgufWriter w;
    w.add_tensor("x", 0, {4});
    w.open(dir.file("short.gguf"));
    const float f[3] = {};
    w.write_data(f, sizeof f);
    w.finish();
  }, "'x' is incomplete (12 of 16 bytes");
  expect_error([&] {
    GgufWriter w;
    w.add_tensor("x", 0, {1});
    w.open(dir.file("long.gguf"));
    const float f[2] = {};
    w.write_data(f, sizeof f);
  }, "more tensor data written");
  expect_error([&] {
    GgufWriter w;
    w.open(dir.file("late.gguf"));
    w.set_u32("k", 1);
  }, "after the file was opened");
  expect_error([&] { GgufWriter().open(dir.file("no/such/dir/x.gguf")); }, "cannot create the file");
}

}  // namespace
}  // namespace edgerun

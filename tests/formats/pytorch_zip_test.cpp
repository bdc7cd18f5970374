// The torch.save checkpoint reader: golden files made by torch 1.13, archives and pickles built
// here byte by byte (ZIP64, misaligned and F64 storages, hostile inputs), truncation and fuzzing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "format_test_util.h"
#include "formats/pickle_vm.h"
#include "formats/pytorch_zip.h"
#include "formats/safetensors.h"
#include "formats/weight_store.h"
#include "formats/zip_reader.h"

namespace edgerun::test {
namespace {

std::string pytorch_golden(const std::string& file) { return golden_dir() + "/pytorch/" + file; }

void put_le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// A STORED-only ZIP writer for the tests. `zip64` writes every size and offset through ZIP64
// extra fields and records; `align` pads each entry's data to that many bytes (as torch does).
struct ZipEntrySpec {
  std::string name;
  Bytes data;
  uint16_t method = 0;
};
Bytes make_zip(const std::vector<ZipEntrySpec>& entries, bool zip64 = false, size_t align = 64) {
  Bytes out, directory;
  for (const ZipEntrySpec& e : entries) {
    const uint64_t local = out.size();
    const uint32_t crc = zip_crc32(e.data.data(), e.data.size());
    size_t pad = 0;
    if (align > 1) {
      const size_t data_at = local + 30 + e.name.size() + 4;  // 4: padding extra field's header
      pad = (align - data_at % align) % align;
    }
    put_le(out, 0x04034b50, 4);
    put_le(out, 20, 2), put_le(out, 0, 2), put_le(out, e.method, 2), put_le(out, 0, 4);
    put_le(out, crc, 4), put_le(out, e.data.size(), 4), put_le(out, e.data.size(), 4);
    put_le(out, e.name.size(), 2), put_le(out, align > 1 ? 4 + pad : 0, 2);
    out.insert(out.end(), e.name.begin(), e.name.end());
    if (align > 1) put_le(out, 0x4246, 2), put_le(out, pad, 2), out.resize(out.size() + pad, 0);
    out.insert(out.end(), e.data.begin(), e.data.end());

    Bytes extra;
    if (zip64) put_le(extra, 1, 2), put_le(extra, 24, 2), put_le(extra, e.data.size(), 8), put_le(extra, e.data.size(), 8), put_le(extra, local, 8);
    const uint64_t saturated = 0xffffffff;
    put_le(directory, 0x02014b50, 4);
    put_le(directory, 20, 2), put_le(directory, 20, 2), put_le(directory, 0, 2), put_le(directory, e.method, 2);
    put_le(directory, 0, 4), put_le(directory, crc, 4);
    put_le(directory, zip64 ? saturated : e.data.size(), 4), put_le(directory, zip64 ? saturated : e.data.size(), 4);
    put_le(directory, e.name.size(), 2), put_le(directory, extra.size(), 2), put_le(directory, 0, 2);
    put_le(directory, 0, 2), put_le(directory, 0, 2), put_le(directory, 0, 4), put_le(directory, zip64 ? saturated : local, 4);
    directory.insert(directory.end(), e.name.begin(), e.name.end());
    directory.insert(directory.end(), extra.begin(), extra.end());
  }
  const uint64_t directory_at = out.size();
  out.insert(out.end(), directory.begin(), directory.end());
  if (zip64) {
    const uint64_t record_at = out.size();
    put_le(out, 0x06064b50, 4), put_le(out, 44, 8), put_le(out, 45, 2), put_le(out, 45, 2), put_le(out, 0, 4), put_le(out, 0, 4);
    put_le(out, entries.size(), 8), put_le(out, entries.size(), 8), put_le(out, directory.size(), 8), put_le(out, directory_at, 8);
    put_le(out, 0x07064b50, 4), put_le(out, 0, 4), put_le(out, record_at, 8), put_le(out, 1, 4);
  }
  put_le(out, 0x06054b50, 4), put_le(out, 0, 2), put_le(out, 0, 2);
  put_le(out, zip64 ? 0xffff : entries.size(), 2), put_le(out, zip64 ? 0xffff : entries.size(), 2);
  put_le(out, zip64 ? 0xffffffff : directory.size(), 4), put_le(out, zip64 ? 0xffffffff : directory_at, 4), put_le(out, 0, 2);
  return out;
}

// Emits protocol-2 pickle opcodes.
struct PickleWriter {
  Bytes b;
  PickleWriter() { b.push_back(0x80), b.push_back(2); }
  PickleWriter& op(char c) { b.push_back(uint8_t(c)); return *this; }
  PickleWriter& str(const std::string& s) {
    op('X'), put_le(b, s.size(), 4);
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  PickleWriter& integer(int64_t v) {
    op('\x8a'), b.push_back(8), put_le(b, uint64_t(v), 8);  // LONG1: any sign, any size
    return *this;
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    op('c');
    for (char c : module + "\n" + name + "\n") b.push_back(uint8_t(c));
    return *this;
  }
  PickleWriter& ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  // name -> _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  PickleWriter& tensor(const std::string& name, const std::string& storage_type, const std::string& key, int64_t numel,
                       int64_t offset, const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    str(name).global("torch._utils", "_rebuild_tensor_v2").op('(').op('(').str("storage").global("torch", storage_type);
    str(key).str("cpu").integer(numel).op('t').op('Q').integer(offset).ints(size).ints(stride);
    return op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  }
  Bytes done() { op('.'); return b; }
};

Bytes floats_bytes(const std::vector<float>& v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// One F32 [2,3] tensor "w" = 0..5 and its transpose "wt" sharing the storage.
Bytes small_checkpoint(bool zip64 = false, size_t align = 64) {
  PickleWriter p;
  p.global("collections", "OrderedDict").op(')').op('R').op('(');
  p.tensor("w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.tensor("wt", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3});
  p.op('u');
  return make_zip({{"archive/data.pkl", p.done()}, {"archive/data/0", floats_bytes({0, 1, 2, 3, 4, 5})}, {"archive/version", {'3', '\n'}}},
                  zip64, align);
}

PytorchCheckpoint parse_bytes(const Bytes& bytes, std::unique_ptr<uint8_t[]>& holder) {
  return parse_pytorch_checkpoint(heap_storage("test.pth", bytes, holder));
}

std::string parse_error(const Bytes& bytes) {
  std::unique_ptr<uint8_t[]> holder;
  return error_of([&] { parse_bytes(bytes, holder); });
}

std::vector<float> as_floats(const Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case DType::F32: std::memcpy(&out[i], t.data + 4 * i, 4); break;
      case DType::F16: case DType::BF16: {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = t.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        break;
      }
      case DType::I64: { int64_t v; std::memcpy(&v, t.data + 8 * i, 8); out[i] = float(v); break; }
      default: ADD_FAILURE() << "unexpected dtype " << dtype_name(t.dtype);
    }
  }
  return out;
}

DType dtype_from_torch_name(const std::string& name) {
  if (name == "float32") return DType::F32;
  if (name == "float16") return DType::F16;
  if (name == "bfloat16") return DType::BF16;
  if (name == "int64") return DType::I64;
  ADD_FAILURE() << "unexpected torch dtype " << name;
  return DType::U8;
}

bool inside(const Tensor& t, const Storage& file) {
  return t.data >= file.data() && t.data + t.nbytes <= file.data() + file.size();
}

void expect_matches_expected(const PytorchCheckpoint& checkpoint) {
  const SafetensorsFile expected = read_safetensors(pytorch_golden("state_dict.expected.safetensors"));
  ASSERT_EQ(checkpoint.tensors.size(), expected.tensors.size());
  for (size_t i = 0; i < expected.tensors.size(); ++i) {
    const Tensor& want = expected.tensors[i];
    const Tensor& got = checkpoint.tensors[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);  // state dict order kept
    EXPECT_EQ(got.shape, want.shape);
    std::string torch_dtype;
    for (const auto& [k, v] : expected.metadata)
      if (k == want.name) torch_dtype = v;
    EXPECT_EQ(got.dtype, dtype_from_torch_name(torch_dtype));
    EXPECT_EQ(got.nbytes, size_t(got.numel()) * dtype_size(got.dtype));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data) % dtype_size(got.dtype), 0u);
    EXPECT_EQ(as_floats(got), as_floats(want));  // exact
  }
}

TEST(PytorchGolden, StateDictMatchesExpectedValues) {
  const PytorchCheckpoint checkpoint = read_pytorch_checkpoint(pytorch_golden("state_dict.pth"));
  expect_matches_expected(checkpoint);
  // Contiguous tensors are views into the mapping; the strided view and its transpose are copies.
  for (const Tensor& t : checkpoint.tensors) {
    const bool strided = t.name == "mask_decoder.view_of_storage" || t.name == "mask_decoder.transposed";
    EXPECT_EQ(inside(t, *checkpoint.storage), !strided) << t.name;
  }
}

TEST(PytorchGolden, NestedCheckpointSkipsNonTensorEntries) {
  expect_matches_expected(read_pytorch_checkpoint(pytorch_golden("checkpoint_nested.pth")));
}

TEST(PytorchGolden, WeightStoreLoadsCheckpointsAndSafetensors) {
  WeightStore store;
  add_weights_file(store, pytorch_golden("state_dict.pth"));
  EXPECT_EQ(store.get("mask_decoder.transposed", {10, 6}).dtype, DType::F32);
  EXPECT_EQ(store.get("image_encoder.blocks.0.attn.rel_pos_h", {7, 4}).dtype, DType::F16);
  WeightStore expected;
  add_weights_file(expected, pytorch_golden("state_dict.expected.safetensors"));
  EXPECT_EQ(expected.all().size(), store.all().size());
}

TEST(PytorchGolden, SamGoldenDirectoriesHoldNoCheckpointsOrTheyLoad) {
  // The SAM golden cases ship safetensors only today; any .pth added later must match them.
  const std::string sam = golden_dir() + "/sam";
  if (!std::filesystem::exists(sam)) GTEST_SKIP() << "no " << sam;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(sam)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".pth" && ext != ".pt") continue;
    const PytorchCheckpoint checkpoint = read_pytorch_checkpoint(entry.path().string());
    const SafetensorsFile reference = read_safetensors(entry.path().parent_path().string() + "/model.safetensors");
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const Tensor& t : reference.tensors) shapes[t.name] = t.shape;
    for (const Tensor& t : checkpoint.tensors) {
      if (shapes.count(t.name)) {
        EXPECT_EQ(t.shape, shapes[t.name]) << t.name;
      }
    }
  }
}

TEST(PytorchBad, MaliciousGlobalIsRefusedAndNothingRuns) {
  const std::string marker = "/tmp/edgerun-pwned";
  std::filesystem::remove(marker);
  const std::string message = error_of([&] { read_pytorch_checkpoint(pytorch_golden("malicious.pth")); });
  EXPECT_NE(message.find("malicious.pth"), std::string::npos) << message;
  EXPECT_NE(message.find("posix.system"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(marker));
  for (const auto& [module, name] : std::vector<std::pair<std::string, std::string>>{
           {"builtins", "eval"}, {"os", "system"}, {"subprocess", "Popen"}, {"torch", "load"}}) {
    PickleWriter p;
    p.global(module, name).str("x").op('\x85').op('R');
    const Bytes bytes = p.done();
    const std::string m = error_of([&] { unpickle_checkpoint(bytes.data(), bytes.size(), "p.pkl"); });
    EXPECT_NE(m.find(module + "." + name), std::string::npos) << m;
  }
}

TEST(PytorchSynthetic, TransposeSharesStorageAndIsCopiedContiguous) {
  std::unique_ptr<uint8_t[]> holder;
  const PytorchCheckpoint c = parse_bytes(small_checkpoint(), holder);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(as_floats(c.tensors[0]), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(c.tensors[1].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(as_floats(c.tensors[1]), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

// What newer torch and protocol 4 emit: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL,
// _rebuild_parameter, BUILD of the state dict's _metadata, and non-tensor entries beside it.
TEST(PytorchSynthetic, Protocol4ParameterAndMetadata) {
  Bytes p{0x80, 4, 0x95};
  put_le(p, 0, 8);
  auto op = [&](std::initializer_list<uint8_t> bytes) { p.insert(p.end(), bytes); };
  auto text = [&](const std::string& s) { op({0x8c, uint8_t(s.size())}), p.insert(p.end(), s.begin(), s.end()), op({0x94}); };
  auto stack_global = [&](const std::string& module, const std::string& name) { text(module), text(name), op({0x93, 0x94}); };
  op({'}', 0x94});
  text("state_dict");
  stack_global("collections", "OrderedDict"), op({')', 'R', 0x94, '('});
  text("layer.weight");
  stack_global("torch._utils", "_rebuild_parameter"), op({'('});
  stack_global("torch._utils", "_rebuild_tensor_v2"), op({'(', '('});
  text("storage"), stack_global("torch", "FloatStorage"), text("0"), text("cpu"), op({'J', 6, 0, 0, 0, 't', 'Q'});
  op({'K', 2, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, 'N', 't', 'R', 0x88, '}', 't', 'R', 'u'});
  op({'}'}), text("_metadata"), op({'}', 's', 'b', 's'});  // OrderedDict state: its _metadata attribute
  text("lr"), op({'G', 0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc, 's'});
  text("step"), op({0x8a, 2, 0x10, 0x27, 's', '.'});
  std::unique_ptr<uint8_t[]> holder;
  const PytorchCheckpoint c = parse_bytes(make_zip({{"x/data.pkl", p}, {"x/data/0", floats_bytes({0, 1, 2, 3, 4, 5})}}), holder);
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].name, "layer.weight");
  EXPECT_EQ(as_floats(c.tensors[0]), (std::vector<float>{2, 3}));
  EXPECT_TRUE(inside(c.tensors[0], *c.storage));
}

TEST(PytorchSynthetic, Zip64Archive) {
  std::unique_ptr<uint8_t[]> holder;
  const PytorchCheckpoint c = parse_bytes(small_checkpoint(/*zip64=*/true), holder);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(as_floats(c.tensors[1]), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(PytorchSynthetic, MisalignedStorageIsCopied) {
  std::unique_ptr<uint8_t[]> holder;
  const PytorchCheckpoint c = parse_bytes(small_checkpoint(false, /*align=*/1), holder);
  for (const Tensor& t : c.tensors) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u) << t.name;
  EXPECT_EQ(as_floats(c.tensors[0]), (std::vector<float>{0, 1, 2, 3, 4, 5}));
}

TEST(PytorchSynthetic, DoubleIsConvertedToFloatAndOtherTypesKept) {
  PickleWriter p;
  p.op('}').op('(');
  p.tensor("d", "DoubleStorage", "0", 3, 1, {2}, {1});
  p.tensor("b", "BoolStorage", "1", 2, 0, {2}, {1});
  p.tensor("i8", "CharStorage", "1", 2, 0, {2}, {1});
  p.str("epoch").integer(3).op('u');
  Bytes doubles(24);
  const double values[] = {1.5, -2.25, 1e300};
  std::memcpy(doubles.data(), values, 24);
  // "1" is read once as bool and once as int8: a storage seen with two types is an error.
  const Bytes bad = make_zip({{"a/data.pkl", p.done()}, {"a/data/0", doubles}, {"a/data/1", {1, 0}}});
  EXPECT_NE(parse_error(bad).find("two different types"), std::string::npos);

  PickleWriter q;
  q.op('}').op('(').tensor("d", "DoubleStorage", "0", 3, 1, {2}, {1}).tensor("b", "BoolStorage", "1", 2, 0, {2}, {1});
  q.tensor("scalar", "DoubleStorage", "0", 3, 0, {}, {}).op('u');
  std::unique_ptr<uint8_t[]> holder;
  const PytorchCheckpoint c = parse_bytes(make_zip({{"a/data.pkl", q.done()}, {"a/data/0", doubles}, {"a/data/1", {1, 0}}}), holder);
  ASSERT_EQ(c.tensors.size(), 3u);
  EXPECT_EQ(c.tensors[0].dtype, DType::F32);
  EXPECT_EQ(as_floats(c.tensors[0])[0], -2.25f);
  EXPECT_TRUE(std::isinf(as_floats(c.tensors[0])[1]));
  EXPECT_EQ(c.tensors[1].dtype, DType::BOOL);
  EXPECT_EQ(c.tensors[1].data[0], 1);
  EXPECT_EQ(c.tensors[2].dtype, DType::F32);
  EXPECT_EQ(as_floats(c.tensors[2]), std::vector<float>{1.5f});
}

TEST(PytorchBad, ZipContainer) {
  Bytes good = small_checkpoint();
  EXPECT_NE(parse_error(Bytes(good.begin(), good.begin() + 10)).find("too small"), std::string::npos);
  const Bytes no_end(good.begin(), good.end() - 22);
  EXPECT_NE(parse_error(no_end).find("end-of-central-directory"), std::string::npos);

  // The end record is the last 22 bytes: its count, directory size and offset fields.
  const size_t end = good.size() - 22;
  Bytes huge_count = good;
  huge_count[end + 8] = huge_count[end + 10] = 0xfe, huge_count[end + 9] = huge_count[end + 11] = 0xff;
  EXPECT_NE(parse_error(huge_count).find("claims"), std::string::npos);
  Bytes bad_offset = good;
  bad_offset[end + 19] = 0x7f;
  EXPECT_NE(parse_error(bad_offset).find("central directory"), std::string::npos);
  Bytes bad_signature = good;
  uint32_t directory_at;
  std::memcpy(&directory_at, &good[end + 16], 4);
  bad_signature[directory_at] ^= 0xff;
  EXPECT_NE(parse_error(bad_signature).find("bad signature"), std::string::npos);

  Bytes compressed = make_zip({{"a/data.pkl", {0x80, 2, '}', '.'}, 8}});
  EXPECT_NE(parse_error(compressed).find("compressed (method 8)"), std::string::npos);
  EXPECT_NE(parse_error(make_zip({{"a/x", {1}}, {"a/x", {2}}})).find("duplicate entry"), std::string::npos);
  EXPECT_NE(parse_error(make_zip({{"a/version", {'3'}}})).find("data.pkl"), std::string::npos);

  Bytes corrupt_pickle = good;
  corrupt_pickle[100] ^= 1;  // inside data.pkl (which starts at byte 64)
  EXPECT_NE(parse_error(corrupt_pickle).find("CRC"), std::string::npos);
  EXPECT_NE(parse_error(Bytes{0x80, 2, '}', '.'}).find("legacy"), std::string::npos);
}

TEST(PytorchBad, TensorViews) {
  auto with_view = [](int64_t numel, int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride,
                      const std::string& key = "0") {
    PickleWriter p;
    p.op('}').op('(').tensor("t", "FloatStorage", key, numel, offset, size, stride).op('u');
    return parse_error(make_zip({{"a/data.pkl", p.done()}, {"a/data/0", floats_bytes({0, 1, 2, 3})}}));
  };
  EXPECT_NE(with_view(4, 0, {5}, {1}).find("reaches element 4"), std::string::npos);
  EXPECT_NE(with_view(4, 3, {2}, {1}).find("reaches element"), std::string::npos);
  EXPECT_NE(with_view(5, 0, {5}, {1}).find("fewer than"), std::string::npos);
  EXPECT_NE(with_view(4, -1, {1}, {1}).find("negative storage offset"), std::string::npos);
  EXPECT_NE(with_view(4, 0, {2}, {-1}).find("negative"), std::string::npos);
  EXPECT_NE(with_view(4, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}).find("overflows"), std::string::npos);
  EXPECT_NE(with_view(4, 0, {2, 2}, {int64_t(1) << 62, 1}).find("overflows"), std::string::npos);
  EXPECT_NE(with_view(4, 0, {1}, {1}, "9").find("missing from the archive"), std::string::npos);
  EXPECT_NE(with_view(int64_t(1) << 62, 0, {1}, {1}).find("fewer than"), std::string::npos);
  EXPECT_NE(with_view(4, int64_t(1) << 62, {}, {}).find("reaches element"), std::string::npos);

  PickleWriter twice;
  twice.op('}').op('(').tensor("t", "FloatStorage", "0", 4, 0, {4}, {1}).tensor("t", "FloatStorage", "0", 4, 0, {4}, {1}).op('u');
  const std::string m = parse_error(make_zip({{"a/data.pkl", twice.done()}, {"a/data/0", floats_bytes({0, 1, 2, 3})}}));
  EXPECT_NE(m.find("twice"), std::string::npos) << m;
}

TEST(PytorchBad, MalformedPickles) {
  auto error = [](Bytes pickle) {
    return error_of([&] { unpickle_checkpoint(pickle.data(), pickle.size(), "p.pkl"); });
  };
  auto contains = [&](Bytes pickle, const std::string& text) {
    const std::string m = error(std::move(pickle));
    EXPECT_NE(m.find(text), std::string::npos) << m;
  };
  contains({0x80, 2, '}'}, "without STOP");
  contains({0x80, 2, '.'}, "underflow");
  contains({0x80, 2, 'X', 0xff, 0xff, 0xff, 0xff, '.'}, "truncated");
  contains({0x80, 2, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x80, '.'}, "truncated");     // BINUNICODE8 of 2^63 bytes
  contains({0x80, 2, 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "truncated");
  contains({0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0xff, '.'}, "too large");        // LONG4 of 4 GiB
  contains({0x80, 2, 'h', 7, '.'}, "never stored");
  contains({0x80, 2, '(', 's', '.'}, "underflow");                             // SETITEM across a MARK
  contains({0x80, 2, ']', 'N', 'N', 's', '.'}, "not a dict");
  contains({0x80, 2, 'N', 'Q', '.'}, "persistent id");
  contains({0x80, 2, 'N', ')', 'R', '.'}, "not an allowed global");
  contains({0x80, 2, 'c', 'o', 's'}, "newline");
  contains({0x80, 2, 0xff}, "unsupported pickle opcode 0xff");
  contains({0x80, 9}, "protocol 9");
  contains(Bytes(300, '('), "MARKs nested deeper");
  Bytes deep{0x80, 2};
  deep.resize(deep.size() + (1 << 16) + 1, ')');
  contains(deep, "stack deeper");
  Bytes many{0x80, 2};
  for (int i = 0; i < (1 << 20) + 1; ++i) many.insert(many.end(), {')', '0'});  // EMPTY_TUPLE, POP
  contains(many, "too many values");
  Bytes memo{0x80, 2, 'N'};
  for (int i = 0; i < 4; ++i) memo.insert(memo.end(), {'r', uint8_t(i), 0, 0, 0});
  memo.insert(memo.end(), {'j', 3, 0, 0, 0, 'j', 2, 0, 0, 0, '1'});
  contains(memo, "no MARK");
  // A list that contains itself, through the memo: fine to build (no ownership cycle).
  const Bytes self{0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'};
  const Unpickled u = unpickle_checkpoint(self.data(), self.size(), "p.pkl");
  EXPECT_EQ(u.at(u.root).items.at(0), u.root);
}

// Parses a mutated or truncated file: success or edgerun::Error are fine, nothing else.
void expect_clean(const Bytes& bytes) {
  std::unique_ptr<uint8_t[]> holder;
  try {
    parse_bytes(bytes, holder);
  } catch (const Error&) {
  }
}

TEST(PytorchBad, EveryTruncationPoint) {
  const Bytes good = read_bytes(pytorch_golden("state_dict.pth"));
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parse_error(Bytes(good.begin(), good.begin() + std::ptrdiff_t(n))).empty()) << n;
  }
}

TEST(PytorchBad, MutationFuzz) {
  const Bytes golden = read_bytes(pytorch_golden("state_dict.pth"));
  std::mt19937 rng(1234);
  for (int i = 0; i < fuzz_iterations(); ++i) {
    Bytes b = golden;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng());
    expect_clean(b);
  }
}

// The pickle is protected by its CRC, so whole-file mutation rarely reaches the pickle machine:
// this mutates the pickle and rebuilds a valid archive around it.
TEST(PytorchBad, PickleMutationFuzz) {
  const Bytes golden = read_bytes(pytorch_golden("state_dict.pth"));
  const std::vector<ZipEntry> entries = read_zip_entries(golden.data(), golden.size(), "state_dict.pth");
  std::vector<ZipEntrySpec> specs;
  for (const ZipEntry& e : entries)
    specs.push_back({e.name, Bytes(golden.begin() + std::ptrdiff_t(e.data_offset), golden.begin() + std::ptrdiff_t(e.data_offset + e.size))});
  ASSERT_EQ(specs[0].name, "state_dict/data.pkl");
  const Bytes pickle = specs[0].data;
  std::mt19937 rng(99);
  for (int i = 0; i < fuzz_iterations(); ++i) {
    specs[0].data = pickle;
    const int flips = 1 + int(rng() % 3);
    for (int k = 0; k < flips; ++k) specs[0].data[rng() % pickle.size()] = uint8_t(rng() % 4 == 0 ? rng() % 256 : pickle[rng() % pickle.size()]);
    expect_clean(make_zip(specs));
  }
}

}  // namespace
}  // namespace edgerun::test

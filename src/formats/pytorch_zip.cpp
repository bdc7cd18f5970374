#include "formats/pytorch_zip.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "core/error.h"
#include "formats/dtype_check.h"
#include "formats/pickle_vm.h"
#include "formats/zip_reader.h"

namespace edgerun {

namespace {

// Keys under which training scripts nest the state dict, most specific first.
const char* const kNestedStateDictKeys[] = {"state_dict", "model_state_dict", "model_state", "model"};

// The mapped file plus the buffers of copied tensors; shared_ptr<Storage> aliases it.
struct CheckpointHolder {
  std::shared_ptr<Storage> file;
  std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> copies;

  uint8_t* allocate(size_t n, const std::string& where) {
    const size_t rounded = (std::max<size_t>(n, 1) + 63) / 64 * 64;
    copies.emplace_back(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)), &std::free);
    if (!copies.back()) fail(where, "out of memory copying a tensor");
    return copies.back().get();
  }
};

struct Archive {
  const std::string& where;
  const uint8_t* bytes;
  std::map<std::string, ZipEntry> entries;
  std::string prefix;  // "<archive>/"

  const ZipEntry* find(const std::string& name) const {
    auto it = entries.find(prefix + name);
    return it == entries.end() ? nullptr : &it->second;
  }
};

Archive open_archive(const Storage& file) {
  Archive a{file.name(), file.data(), {}, {}};
  if (file.size() >= 2 && file.data()[0] == 0x80)
    fail(a.where, "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a newer torch");
  std::vector<ZipEntry> list = read_zip_entries(file.data(), file.size(), a.where);
  if (list.empty()) fail(a.where, "ZIP archive has no entries");
  const size_t slash = list[0].name.find('/');
  if (slash == std::string::npos) fail(a.where, "first entry " + quote_for_message(list[0].name) + " is not inside an archive folder");
  a.prefix = list[0].name.substr(0, slash + 1);
  for (ZipEntry& e : list) a.entries.emplace(e.name, e);
  return a;
}

struct StateDictEntry {
  std::string name;
  PickleId tensor;
};

// The (name, tensor) pairs of a dict value, skipping non-tensor entries.
std::vector<StateDictEntry> tensors_of(const Unpickled& p, const PickleValue& dict) {
  std::vector<StateDictEntry> out;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleValue& key = p.at(dict.items[i]);
    if (key.kind == PickleKind::String && p.at(dict.items[i + 1]).kind == PickleKind::Tensor)
      out.push_back({key.text, dict.items[i + 1]});
  }
  return out;
}

std::vector<StateDictEntry> find_state_dict(const Unpickled& p, const std::string& where) {
  const PickleValue& root = p.at(p.root);
  if (root.kind != PickleKind::Dict) fail(where, "the pickled object is not a dict (not a state dict checkpoint)");
  std::vector<StateDictEntry> found = tensors_of(p, root);
  for (const char* key : kNestedStateDictKeys) {
    if (!found.empty()) break;
    for (size_t i = 0; i + 1 < root.items.size(); i += 2) {
      const PickleValue& k = p.at(root.items[i]);
      const PickleValue& v = p.at(root.items[i + 1]);
      if (k.kind == PickleKind::String && k.text == key && v.kind == PickleKind::Dict) {
        found = tensors_of(p, v);
        break;
      }
    }
  }
  if (found.empty()) fail(where, "no tensors found at the top level or under \"state_dict\"/\"model\" keys");
  std::set<std::string> names;
  for (const StateDictEntry& entry : found)
    if (!names.insert(entry.name).second) fail(where, "state dict has the key " + quote_for_message(entry.name) + " twice");
  return found;
}

// a*b and a+b for non-negative values, failing on overflow past 2^62.
int64_t checked_mul(int64_t a, int64_t b, const std::string& where, const std::string& what) {
  if (a != 0 && b > (int64_t(1) << 62) / a) fail(where, what + " overflows");
  return a * b;
}
int64_t checked_add(int64_t a, int64_t b, const std::string& where, const std::string& what) {
  if (b > (int64_t(1) << 62) - a) fail(where, what + " overflows");
  return a + b;
}

bool is_row_major(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

// Gathers a strided view (strides in elements from `base`, its first element) into row-major order.
void gather(const uint8_t* base, size_t element, const std::vector<int64_t>& shape,
            const std::vector<int64_t>& strides, uint8_t* out) {
  const size_t dims = shape.size();
  const int64_t inner = dims ? shape.back() : 1, inner_stride = dims ? strides.back() : 0;
  std::vector<int64_t> index(dims, 0);
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < dims; ++d) rows *= shape[d];
  for (int64_t r = 0; r < rows; ++r) {
    int64_t at = 0;
    for (size_t d = 0; d + 1 < dims; ++d) at += index[d] * strides[d];
    for (int64_t i = 0; i < inner; ++i, out += element)
      std::memcpy(out, base + size_t(at + i * inner_stride) * element, element);
    for (size_t d = dims > 0 ? dims - 1 : 0; d-- > 0;) {  // odometer over the outer dimensions (none for a scalar)
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

class TensorBuilder {
 public:
  TensorBuilder(const Archive& archive, const Unpickled& pickle, CheckpointHolder& holder)
      : archive_(archive), pickle_(pickle), holder_(holder) {}

  Tensor build(const StateDictEntry& entry) {
    const PickleValue& view = pickle_.at(entry.tensor);
    const PickleValue& storage = pickle_.at(view.storage);
    where_ = archive_.where + ": tensor " + quote_for_message(entry.name);
    Tensor t;
    t.name = entry.name;
    t.dtype = storage.dtype;
    t.shape = view.shape;
    const size_t element = dtype_size(storage.dtype);
    const uint8_t* data = storage_bytes(storage, element);

    int64_t numel = 1, last = view.storage_offset;
    if (view.storage_offset < 0) fail(where_, "negative storage offset");
    for (size_t d = 0; d < view.shape.size(); ++d) {
      if (view.shape[d] < 0 || view.strides[d] < 0) fail(where_, "negative size or stride");
      numel = checked_mul(numel, view.shape[d], where_, "element count");
      if (view.shape[d] > 0)
        last = checked_add(last, checked_mul(view.shape[d] - 1, view.strides[d], where_, "extent"), where_, "extent");
    }
    if (numel > 0 && uint64_t(last) >= storage.storage_numel)
      fail(where_, "view reaches element " + std::to_string(last) + " of a storage of " +
                       std::to_string(storage.storage_numel));
    t.nbytes = size_t(checked_mul(numel, int64_t(element), where_, "byte size"));
    const uint8_t* first = data + (numel > 0 ? size_t(view.storage_offset) * element : 0);

    const bool contiguous = is_row_major(view.shape, view.strides);
    const bool aligned = reinterpret_cast<uintptr_t>(first) % dtype_alignment(t.dtype) == 0;
    if (contiguous && aligned && t.dtype != DType::F64) {
      t.data = first;
      return t;
    }
    uint8_t* copy = holder_.allocate(t.nbytes, where_);
    if (numel > 0) gather(first, element, view.shape, view.strides, copy);
    t.data = copy;
    if (t.dtype == DType::F64) to_f32(t);
    return t;
  }

 private:
  // The storage's bytes in the archive, checked to hold all its elements and of one dtype.
  const uint8_t* storage_bytes(const PickleValue& storage, size_t element) {
    const ZipEntry* entry = archive_.find("data/" + storage.text);
    if (!entry) fail(where_, "storage " + quote_for_message(storage.text) + " is missing from the archive");
    const uint64_t need = storage.storage_numel > (uint64_t(1) << 62) / element ? ~uint64_t(0) : storage.storage_numel * element;
    if (need > entry->size)
      fail(where_, "storage " + quote_for_message(storage.text) + " holds " + std::to_string(entry->size) +
                       " bytes, fewer than its " + std::to_string(storage.storage_numel) + " elements need");
    auto [it, fresh] = storage_dtypes_.emplace(storage.text, storage.dtype);
    if (!fresh && it->second != storage.dtype)
      fail(where_, "storage " + quote_for_message(storage.text) + " is used with two different types");
    return archive_.bytes + entry->data_offset;
  }

  // F64 is converted because the kernels compute in F32 at most.
  void to_f32(Tensor& t) {
    const size_t n = t.nbytes / 8;
    float* out = reinterpret_cast<float*>(holder_.allocate(n * 4, where_));
    for (size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, t.data + i * 8, 8);
      out[i] = float(v);
    }
    t.dtype = DType::F32;
    t.data = reinterpret_cast<const uint8_t*>(out);
    t.nbytes = n * 4;
  }

  const Archive& archive_;
  const Unpickled& pickle_;
  CheckpointHolder& holder_;
  std::string where_;
  std::map<std::string, DType> storage_dtypes_;
};

}  // namespace

PytorchCheckpoint read_pytorch_checkpoint(const std::string& path) {
  return parse_pytorch_checkpoint(Storage::map_file(path));
}

PytorchCheckpoint parse_pytorch_checkpoint(std::shared_ptr<Storage> storage) {
  if (!storage) fail("pytorch checkpoint", "no data to parse");
  const Archive archive = open_archive(*storage);
  const std::string& where = archive.where;

  if (const ZipEntry* order = archive.find("byteorder")) {
    const std::string text(reinterpret_cast<const char*>(archive.bytes + order->data_offset), size_t(order->size));
    if (text != "little") fail(where, "byteorder is " + quote_for_message(text) + "; only little-endian checkpoints are supported");
  }
  const ZipEntry* pickle_entry = archive.find("data.pkl");
  if (!pickle_entry) fail(where, "no " + archive.prefix + "data.pkl in the archive (not a torch.save checkpoint?)");
  const uint8_t* pickle_bytes = archive.bytes + pickle_entry->data_offset;
  if (zip_crc32(pickle_bytes, size_t(pickle_entry->size)) != pickle_entry->crc32)
    fail(where, archive.prefix + "data.pkl fails its CRC check (corrupt file)");
  const Unpickled pickle = unpickle_checkpoint(pickle_bytes, size_t(pickle_entry->size), where + ": data.pkl");

  auto holder = std::make_shared<CheckpointHolder>();
  holder->file = storage;
  PytorchCheckpoint out;
  TensorBuilder builder(archive, pickle, *holder);
  for (const StateDictEntry& entry : find_state_dict(pickle, where)) out.tensors.push_back(builder.build(entry));
  out.storage = std::shared_ptr<Storage>(holder, storage.get());  // aliasing: owns the holder
  return out;
}

}  // namespace edgerun

// A restricted unpickler for PyTorch checkpoints (data.pkl inside a torch.save zip). It only
// builds values: no Python object is ever constructed or called. The globals a state dict needs
// (OrderedDict, the tensor rebuild functions, the typed storage classes) are interpreted by
// this code; any other global is refused naming it. Persistent ids must be torch's
// ('storage', <StorageType>, key, location, numel).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace edgerun {

enum class PickleKind : uint8_t { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

// The allowlisted globals.
enum class PickleGlobal : uint8_t { OrderedDict, RebuildTensor, RebuildParameter, StorageType };

// Values live in one arena and refer to each other by index, so shared and even self-referencing
// values (possible through the memo) need no ownership graph.
using PickleId = uint32_t;

struct PickleValue {
  PickleKind kind = PickleKind::None;
  int64_t integer = 0;          // Int, Bool
  double number = 0;            // Float
  std::string text;             // String, Bytes; Global: "module.name"; Storage: its key in data/
  std::vector<PickleId> items;  // Tuple, List; Dict: key, value, key, value, ... in insertion order
  PickleGlobal global = PickleGlobal::OrderedDict;
  DType dtype = DType::F32;     // Global StorageType, Storage
  uint64_t storage_numel = 0;   // Storage: elements
  // Tensor: a view of a Storage value.
  PickleId storage = 0;
  int64_t storage_offset = 0;   // in elements
  std::vector<int64_t> shape, strides;
};

struct Unpickled {
  std::vector<PickleValue> values;
  PickleId root = 0;
  const PickleValue& at(PickleId id) const { return values[id]; }
};

// Runs the pickle in `bytes`. Throws Error("<where>: <problem>") for a refused global, an
// unsupported opcode, malformed or truncated input, or a limit (stack, memo, nesting) exceeded.
Unpickled unpickle_checkpoint(const uint8_t* bytes, size_t size, const std::string& where);

}  // namespace edgerun

// Safe reader for PyTorch checkpoints written by torch.save (the zip format of torch >= 1.6:
// <archive>/data.pkl, <archive>/data/<key> raw storages). The pickle runs on a restricted
// machine (formats/pickle_vm.h) that refuses every global except those a state dict needs,
// so a hostile file cannot run code. Tensors are views into the mapped file; a tensor is
// copied only when it is not contiguous in its storage (a strided view), when its data is
// misaligned for its dtype, or when it is F64 (converted to F32, which the kernels use).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace edgerun {

struct PytorchCheckpoint {
  // Keeps the mapped file and the copies alive (pass it to WeightStore::add with the tensors).
  std::shared_ptr<Storage> storage;
  std::vector<Tensor> tensors;  // contiguous, in the state dict's order
};

// Maps `path` and reads its state dict: the top-level dict of tensors, or the one under
// "state_dict", "model_state_dict", "model_state" or "model" when the top level holds no
// tensors. Entries that are not tensors (e.g. "epoch": 3) are skipped. Throws
// Error("<path>: <problem>") for anything malformed or refused.
PytorchCheckpoint read_pytorch_checkpoint(const std::string& path);
// Same on bytes already owned by `storage`; errors name storage->name().
PytorchCheckpoint parse_pytorch_checkpoint(std::shared_ptr<Storage> storage);

}  // namespace edgerun

#include "formats/pickle_vm.h"

#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace edgerun {

namespace {

// Far above what a state dict needs (Python's pickler batches SETITEMS by 1000 pairs; a few values
// per tensor; nesting of 3-4), low enough that a hostile pickle cannot make the reader use much
// memory (a value is ~150 bytes).
constexpr size_t kMaxStack = 1 << 16;
constexpr size_t kMaxMarks = 256;
constexpr size_t kMaxMemo = 1 << 21;
constexpr size_t kMaxValues = 1 << 20;  // ~25 per tensor: room for 40k tensors
constexpr size_t kMaxTensorDims = 16;

struct AllowedGlobal {
  const char* module;
  const char* name;
  PickleGlobal global;
  DType dtype;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", PickleGlobal::OrderedDict, DType::F32},
    {"torch._utils", "_rebuild_tensor_v2", PickleGlobal::RebuildTensor, DType::F32},
    {"torch._utils", "_rebuild_tensor", PickleGlobal::RebuildTensor, DType::F32},
    {"torch._utils", "_rebuild_parameter", PickleGlobal::RebuildParameter, DType::F32},
    {"torch._utils", "_rebuild_parameter_with_state", PickleGlobal::RebuildParameter, DType::F32},
    {"torch", "FloatStorage", PickleGlobal::StorageType, DType::F32},
    {"torch", "DoubleStorage", PickleGlobal::StorageType, DType::F64},
    {"torch", "HalfStorage", PickleGlobal::StorageType, DType::F16},
    {"torch", "BFloat16Storage", PickleGlobal::StorageType, DType::BF16},
    {"torch", "LongStorage", PickleGlobal::StorageType, DType::I64},
    {"torch", "IntStorage", PickleGlobal::StorageType, DType::I32},
    {"torch", "ShortStorage", PickleGlobal::StorageType, DType::I16},
    {"torch", "CharStorage", PickleGlobal::StorageType, DType::I8},
    {"torch", "ByteStorage", PickleGlobal::StorageType, DType::U8},
    {"torch", "BoolStorage", PickleGlobal::StorageType, DType::BOOL},
};

// Opcodes, named as in CPython's pickle module.
enum Opcode : uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BININT = 'J', BININT1 = 'K',
  BININT2 = 'M', NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}',
  APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', BINPUT = 'q',
  LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
  PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
  NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, SHORT_BINBYTES = 'C', BINBYTES = 'B',
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94, FRAME = 0x95,
};

class Machine {
 public:
  Machine(const uint8_t* bytes, size_t size, const std::string& where) : bytes_(bytes), size_(size), where_(where) {}

  Unpickled run() {
    while (true) {
      if (pos_ >= size_) fail(where_, "pickle ends without STOP");
      op_at_ = pos_;
      const uint8_t op = bytes_[pos_++];
      if (op == STOP) {
        out_.root = pop();
        return std::move(out_);
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void bad(const std::string& problem) const {
    fail(where_, "pickle byte " + std::to_string(op_at_) + ": " + problem);
  }

  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) bad("truncated (needs " + std::to_string(n) + " more bytes, " + std::to_string(size_ - pos_) + " left)");
    const uint8_t* p = bytes_ + pos_;
    pos_ += size_t(n);
    return p;
  }
  uint64_t unsigned_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
  }
  // Two's-complement little-endian integer of n <= 8 bytes (LONG1/LONG4 payloads).
  int64_t signed_le(uint64_t n) {
    if (n > 8) bad("integer of " + std::to_string(n) + " bytes is too large");
    if (n == 0) return 0;
    uint64_t v = unsigned_le(size_t(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);
    return int64_t(v);
  }
  std::string line() {
    const void* nl = std::memchr(bytes_ + pos_, '\n', size_ - pos_);
    if (!nl) bad("GLOBAL name has no terminating newline");
    const size_t n = size_t(static_cast<const uint8_t*>(nl) - (bytes_ + pos_));
    std::string s(reinterpret_cast<const char*>(bytes_ + pos_), n);
    pos_ += n + 1;
    return s;
  }

  PickleId make(PickleValue v) {
    if (out_.values.size() >= kMaxValues) bad("too many values (limit " + std::to_string(kMaxValues) + ")");
    out_.values.push_back(std::move(v));
    return PickleId(out_.values.size() - 1);
  }
  PickleId make_kind(PickleKind kind) {
    PickleValue v;
    v.kind = kind;
    return make(std::move(v));
  }
  PickleId make_int(int64_t i, PickleKind kind = PickleKind::Int) {
    PickleValue v;
    v.kind = kind;
    v.integer = i;
    return make(std::move(v));
  }
  PickleId make_text(PickleKind kind, uint64_t n) {
    const uint8_t* p = take(n);
    PickleValue v;
    v.kind = kind;
    v.text.assign(reinterpret_cast<const char*>(p), size_t(n));
    return make(std::move(v));
  }
  PickleValue& value(PickleId id) { return out_.values[id]; }

  void push(PickleId id) {
    if (stack_.size() >= kMaxStack) bad("stack deeper than " + std::to_string(kMaxStack));
    stack_.push_back(id);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleId pop() {
    if (stack_.size() <= floor()) bad("stack underflow");
    const PickleId id = stack_.back();
    stack_.pop_back();
    return id;
  }
  PickleId top() {
    if (stack_.size() <= floor()) bad("stack underflow");
    return stack_.back();
  }
  // Removes the topmost mark and returns the values pushed after it.
  std::vector<PickleId> pop_mark() {
    if (marks_.empty()) bad("no MARK to pop");
    std::vector<PickleId> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  PickleValue& require(PickleId id, PickleKind kind, const char* what) {
    if (value(id).kind != kind) bad(std::string(what));
    return value(id);
  }

  void memo_put(uint64_t index) {
    const PickleId id = top();
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) bad("memo larger than " + std::to_string(kMaxMemo) + " entries");
    memo_[index] = id;
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  void global(const std::string& module, const std::string& name) {
    for (const AllowedGlobal& g : kAllowedGlobals) {
      if (module == g.module && name == g.name) {
        PickleValue v;
        v.kind = PickleKind::Global;
        v.global = g.global;
        v.dtype = g.dtype;
        v.text = module + "." + name;
        push(make(std::move(v)));
        return;
      }
    }
    bad("refusing global " + quote_for_message(module + "." + name) +
        ": only OrderedDict, tensor rebuild functions and torch storage types are allowed (nothing was executed)");
  }

  std::vector<int64_t> int_tuple(PickleId id, const char* what) {
    const PickleValue& t = value(id);
    if (t.kind != PickleKind::Tuple) bad(std::string(what) + " is not a tuple");
    if (t.items.size() > kMaxTensorDims) bad(std::string(what) + " has more than " + std::to_string(kMaxTensorDims) + " dimensions");
    std::vector<int64_t> out;
    for (PickleId item : t.items) {
      if (value(item).kind != PickleKind::Int) bad(std::string(what) + " holds a non-integer");
      out.push_back(value(item).integer);
    }
    return out;
  }

  // Interprets a call of an allowlisted global; nothing is executed.
  PickleId call(PickleId callable, PickleId args_id) {
    // Copies, not references: making values grows the arena.
    const PickleValue fn = value(callable);
    if (fn.kind != PickleKind::Global) bad("REDUCE on something that is not an allowed global");
    const std::vector<PickleId> args = require(args_id, PickleKind::Tuple, "REDUCE arguments are not a tuple").items;
    switch (fn.global) {
      case PickleGlobal::OrderedDict:
        if (!args.empty()) bad("OrderedDict with arguments is not supported");
        return make_kind(PickleKind::Dict);
      case PickleGlobal::RebuildParameter:
        if (args.empty() || value(args[0]).kind != PickleKind::Tensor) bad(fn.text + " expects a tensor");
        return args[0];
      case PickleGlobal::RebuildTensor: {
        // (storage, storage_offset, size, stride, [requires_grad, backward_hooks, [metadata]])
        if (args.size() < 4) bad(fn.text + " expects at least 4 arguments");
        if (value(args[0]).kind != PickleKind::Storage) bad(fn.text + ": first argument is not a storage");
        if (value(args[1]).kind != PickleKind::Int) bad(fn.text + ": storage offset is not an integer");
        PickleValue t;
        t.kind = PickleKind::Tensor;
        t.storage = args[0];
        t.storage_offset = value(args[1]).integer;
        t.shape = int_tuple(args[2], "tensor size");
        t.strides = int_tuple(args[3], "tensor stride");
        t.dtype = value(args[0]).dtype;
        if (t.shape.size() != t.strides.size()) bad(fn.text + ": size and stride have different lengths");
        return make(std::move(t));
      }
      case PickleGlobal::StorageType:
        bad("calling " + fn.text + " is not supported");
    }
    bad("unknown global");
  }

  // torch's persistent id: ('storage', StorageType, key, location, numel).
  PickleId persistent_load(PickleId pid_id) {
    const std::vector<PickleId> pid = require(pid_id, PickleKind::Tuple, "persistent id is not a tuple").items;
    if (pid.size() != 5 || value(pid[0]).kind != PickleKind::String || value(pid[0]).text != "storage")
      bad("persistent id is not ('storage', type, key, location, numel)");
    const PickleValue& type = value(pid[1]);
    if (type.kind != PickleKind::Global || type.global != PickleGlobal::StorageType)
      bad("persistent id names no torch storage type");
    if (value(pid[2]).kind != PickleKind::String) bad("storage key is not a string");
    if (value(pid[4]).kind != PickleKind::Int || value(pid[4]).integer < 0) bad("storage size is not a non-negative integer");
    PickleValue s;
    s.kind = PickleKind::Storage;
    s.dtype = type.dtype;
    s.text = value(pid[2]).text;
    s.storage_numel = uint64_t(value(pid[4]).integer);
    return make(std::move(s));
  }

  void set_items(PickleId dict_id, const std::vector<PickleId>& pairs) {
    if (pairs.size() % 2) bad("SETITEMS with an odd number of values");
    PickleValue& dict = require(dict_id, PickleKind::Dict, "SETITEM(S) on something that is not a dict");
    dict.items.insert(dict.items.end(), pairs.begin(), pairs.end());
  }
  void append_items(PickleId list_id, const std::vector<PickleId>& items) {
    PickleValue& list = require(list_id, PickleKind::List, "APPEND(S) on something that is not a list");
    list.items.insert(list.items.end(), items.begin(), items.end());
  }
  void push_sequence(PickleKind kind, std::vector<PickleId> items) {
    PickleValue v;
    v.kind = kind;
    v.items = std::move(items);
    push(make(std::move(v)));
  }

  void step(uint8_t op) {
    switch (op) {
      case PROTO: {
        const uint8_t version = *take(1);
        if (version > 5) bad("pickle protocol " + std::to_string(version) + " is not supported");
        return;
      }
      case FRAME: unsigned_le(8); return;  // framing is only a read-ahead hint
      case MARK:
        if (marks_.size() >= kMaxMarks) bad("MARKs nested deeper than " + std::to_string(kMaxMarks));
        marks_.push_back(stack_.size());
        return;
      case POP: pop(); return;
      case POP_MARK: pop_mark(); return;
      case DUP: push(top()); return;
      case NONE: push(make_kind(PickleKind::None)); return;
      case NEWTRUE: push(make_int(1, PickleKind::Bool)); return;
      case NEWFALSE: push(make_int(0, PickleKind::Bool)); return;
      case BININT: push(make_int(int32_t(uint32_t(unsigned_le(4))))); return;
      case BININT1: push(make_int(int64_t(unsigned_le(1)))); return;
      case BININT2: push(make_int(int64_t(unsigned_le(2)))); return;
      case LONG1: { const uint64_t n = unsigned_le(1); push(make_int(signed_le(n))); return; }
      case LONG4: { const uint64_t n = unsigned_le(4); push(make_int(signed_le(n))); return; }
      case BINFLOAT: {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
        PickleValue v;
        v.kind = PickleKind::Float;
        std::memcpy(&v.number, &bits, 8);
        push(make(std::move(v)));
        return;
      }
      case SHORT_BINUNICODE: push(make_text(PickleKind::String, unsigned_le(1))); return;
      case BINUNICODE: push(make_text(PickleKind::String, unsigned_le(4))); return;
      case BINUNICODE8: push(make_text(PickleKind::String, unsigned_le(8))); return;
      case SHORT_BINSTRING: push(make_text(PickleKind::String, unsigned_le(1))); return;
      case BINSTRING: push(make_text(PickleKind::String, uint32_t(unsigned_le(4)))); return;
      case SHORT_BINBYTES: push(make_text(PickleKind::Bytes, unsigned_le(1))); return;
      case BINBYTES: push(make_text(PickleKind::Bytes, unsigned_le(4))); return;
      case BINBYTES8: push(make_text(PickleKind::Bytes, unsigned_le(8))); return;
      case EMPTY_DICT: push(make_kind(PickleKind::Dict)); return;
      case EMPTY_LIST: push(make_kind(PickleKind::List)); return;
      case EMPTY_TUPLE: push(make_kind(PickleKind::Tuple)); return;
      case TUPLE: push_sequence(PickleKind::Tuple, pop_mark()); return;
      case TUPLE1: case TUPLE2: case TUPLE3: {
        std::vector<PickleId> items(size_t(op - TUPLE1 + 1));
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        push_sequence(PickleKind::Tuple, std::move(items));
        return;
      }
      case LIST: push_sequence(PickleKind::List, pop_mark()); return;
      case DICT: {
        std::vector<PickleId> pairs = pop_mark();
        push(make_kind(PickleKind::Dict));
        set_items(top(), pairs);
        return;
      }
      case SETITEM: {
        const PickleId v = pop(), k = pop();
        set_items(top(), {k, v});
        return;
      }
      case SETITEMS: { std::vector<PickleId> pairs = pop_mark(); set_items(top(), pairs); return; }
      case APPEND: { const PickleId v = pop(); append_items(top(), {v}); return; }
      case APPENDS: { std::vector<PickleId> items = pop_mark(); append_items(top(), items); return; }
      case BINPUT: memo_put(unsigned_le(1)); return;
      case LONG_BINPUT: memo_put(unsigned_le(4)); return;
      case MEMOIZE: memo_put(memo_.size()); return;
      case BINGET: memo_get(unsigned_le(1)); return;
      case LONG_BINGET: memo_get(unsigned_le(4)); return;
      case GLOBAL: {
        const std::string module = line();
        const std::string name = line();
        global(module, name);
        return;
      }
      case STACK_GLOBAL: {
        const PickleId name = pop(), module = pop();
        if (value(name).kind != PickleKind::String || value(module).kind != PickleKind::String)
          bad("STACK_GLOBAL needs two strings");
        global(value(module).text, value(name).text);
        return;
      }
      case REDUCE: case NEWOBJ: {
        const PickleId args = pop(), callable = pop();
        push(call(callable, args));
        return;
      }
      case BUILD: pop(), top(); return;  // object state (e.g. a state dict's _metadata): not needed
      case BINPERSID: push(persistent_load(pop())); return;
      default: {
        static const char hex[] = "0123456789abcdef";
        bad(std::string("unsupported pickle opcode 0x") + hex[op >> 4] + hex[op & 15]);
      }
    }
  }

  const uint8_t* bytes_;
  size_t size_;
  const std::string& where_;
  size_t pos_ = 0, op_at_ = 0;
  std::vector<PickleId> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleId> memo_;
  Unpickled out_;
};

}  // namespace

Unpickled unpickle_checkpoint(const uint8_t* bytes, size_t size, const std::string& where) {
  return Machine(bytes, size, where).run();
}

}  // namespace edgerun

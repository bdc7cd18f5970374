// Values of the template language. Templates are written against Python's data model (Jinja2
// runs in Python), so this mirrors it: undefined is distinct from none, dicts keep insertion
// order, lists and tuples differ, and str()/repr() follow Python's rules byte for byte.
// Lists, dicts and strings are immutable and shared (Hugging Face renders in Jinja2's immutable
// sandbox); only Objects (namespace(), loop) change after creation.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace edgerun::jinja {

class Value;
class Interpreter;

// A problem found while evaluating, before the interpreter knows the template line; the
// interpreter turns it into an edgerun Error naming the template and line.
class Problem : public std::runtime_error {
 public:
  explicit Problem(const std::string& message) : std::runtime_error(message) {}
};
[[noreturn]] void problem(const std::string& message);

// Python's sequence types that templates meet: lists, tuples, the iterators filters such as map
// and select return (always true, no len(), printed as an object), range(), and the views of
// dict.items() / keys() / values() (sized, not indexable, printed as "dict_items([...])").
enum class Sequence { List, Tuple, Iterator, Range, View };

struct ListData {
  std::vector<Value> items;
  Sequence sequence = Sequence::List;
  std::string display;  // how str() shows an Iterator or Range ("range(0, 3)"); a View's type name
  int nesting = 1;      // levels of values below and including this one (see nesting_of)
};

// Insertion-ordered mapping with Python key equality (1 == 1.0 == True).
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  int nesting = 1;  // set when the dict becomes a Value
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(Value key, Value value);  // replaces an equal key in place, else appends
};

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value call(Interpreter& interp, const CallArgs& args) const = 0;
  virtual std::string name() const = 0;
  // Levels of values this function holds on to (a bound method holds its object).
  virtual int nesting() const { return 0; }
};
using CallablePtr = std::shared_ptr<const Callable>;

// What `loop.index`, `loop.last`, ... are computed from in one iteration of a for loop.
struct LoopInfo {
  std::shared_ptr<const std::vector<Value>> items;  // the (filtered) items of the whole loop
  int64_t index0 = 0;
  int depth = 1;                                    // recursive loops count levels from 1
  std::shared_ptr<const Callable> changed;          // loop.changed(), shared by all iterations
};

// An object with attributes: namespace() objects (assignable) and the `loop` variable.
struct Object {
  std::string type_name;    // "Namespace", "LoopContext"
  DictData attributes;
  bool assignable = false;  // `{% set obj.attr = ... %}` allowed (namespaces only)
  std::shared_ptr<const LoopInfo> loop;  // set for `loop`: attributes are computed from it
  std::shared_ptr<const Callable> call;  // a recursive loop can be called
  int nesting = 1;                       // a loop object holds its items
};

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Object, Callable };

class Value {
 public:
  Value() : v_(UndefinedValue{}) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(std::shared_ptr<const std::string> s) : v_(std::move(s)) {}
  Value(std::shared_ptr<const ListData> l) : v_(std::move(l)) {}
  Value(std::shared_ptr<const DictData> d) : v_(std::move(d)) {}
  Value(std::shared_ptr<Object> o) : v_(std::move(o)) {}
  Value(CallablePtr c) : v_(std::move(c)) {}

  // `hint` says why it is undefined ("'x' is undefined"), for the error when it is misused.
  static Value undefined(std::string hint);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  // A one-pass iterator as Jinja2's generator filters return; `display` is how it prints.
  static Value iterator(std::vector<Value> items, std::string display = "<generator object>");
  static Value range(std::vector<Value> items, std::string display);
  static Value view(std::vector<Value> items, std::string type_name);
  static Value dict(DictData data);

  Kind kind() const { return Kind(v_.index()); }
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }  // any Sequence
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_object() const { return kind() == Kind::Object; }
  bool is_callable() const { return kind() == Kind::Callable || (is_object() && object().call); }

  bool boolean() const { return std::get<bool>(v_); }
  int64_t integer() const { return std::get<int64_t>(v_); }
  double floating() const { return std::get<double>(v_); }
  const std::string& string() const { return *std::get<std::shared_ptr<const std::string>>(v_); }
  const ListData& list_data() const { return *std::get<std::shared_ptr<const ListData>>(v_); }
  const std::vector<Value>& items() const { return list_data().items; }
  Sequence sequence() const { return list_data().sequence; }
  bool is_tuple() const { return is_list() && sequence() == Sequence::Tuple; }
  bool is_iterator() const { return is_list() && sequence() == Sequence::Iterator; }
  // Supports [i]: lists, tuples and ranges.
  bool is_indexable() const { return is_plain_sequence() || (is_list() && sequence() == Sequence::Range); }
  // A list or tuple proper (indexable, sized, printable as its items).
  bool is_plain_sequence() const { return is_list() && (sequence() == Sequence::List || sequence() == Sequence::Tuple); }
  const DictData& dict_data() const { return *std::get<std::shared_ptr<const DictData>>(v_); }
  Object& object() const { return *std::get<std::shared_ptr<Object>>(v_); }
  const std::shared_ptr<Object>& object_ptr() const { return std::get<std::shared_ptr<Object>>(v_); }
  const Callable& callable() const { return *std::get<CallablePtr>(v_); }
  const CallablePtr& callable_ptr() const { return std::get<CallablePtr>(v_); }
  const std::string& undefined_hint() const { return std::get<UndefinedValue>(v_).hint; }

  // Numeric value of an int, float or bool.
  double as_double() const;
  // Integer value of an int or bool.
  int64_t as_int() const;
  // Identity of a shared object (for `is sameas` and object equality).
  const void* identity() const;

 private:
  struct UndefinedValue {
    std::string hint;
  };
  std::variant<UndefinedValue, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const ListData>, std::shared_ptr<const DictData>, std::shared_ptr<Object>,
               CallablePtr>
      v_;
};

// How many levels of values hang below a value, counting containers, loop objects and bound
// methods (namespaces count as one level: the renderer keeps them and empties them at the end).
// Kept below kMaxValueDepth when values are built, so tearing any value down recurses a bounded
// number of levels.
int nesting_of(const Value& v);

// Python's type name: 'str', 'int', 'list', 'dict', 'NoneType', 'Undefined', ...
std::string type_name(const Value& v);
// Python truthiness.
bool truthy(const Value& v);
// Python ==.
bool equal(const Value& a, const Value& b);
// Python < ; throws Problem for unorderable types ("'<' not supported between ...").
bool less(const Value& a, const Value& b);
// Python str(): what {{ x }} prints. Undefined prints as "".
std::string to_str(const Value& v);
// Python repr().
std::string repr(const Value& v);
// Python float.__repr__: shortest round-trip digits, "1e-05", "1.0", "inf".
std::string float_repr(double d);
// Python repr() of a string: quotes chosen as Python does, non-printables escaped.
std::string string_repr(const std::string& s);
// Raises the error Jinja2 raises when an undefined value is used (e.g. "'x' is undefined").
[[noreturn]] void undefined_error(const Value& v);

// Structural recursion (repr, equality, JSON) stops here, and no value may nest deeper.
inline constexpr int kMaxValueDepth = 512;
// No single string may grow past this (checked before building, so a hostile template cannot
// ask for terabytes); renders also have their own, usually smaller, output limit.
inline constexpr size_t kMaxStringBytes = size_t(64) << 20;
// Throws Problem when a string of `bytes` would exceed kMaxStringBytes.
void check_string_size(uint64_t bytes);

}  // namespace edgerun::jinja

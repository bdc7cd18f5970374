// Functions every template can call. range() is capped like Jinja2's sandbox (MAX_RANGE);
// strftime_now() reads the clock the caller supplies, so rendering is reproducible in tests.
#include <ctime>

#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"

namespace edgerun::jinja {

namespace {

constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox refuses larger ranges

Value range(Interpreter&, const CallArgs& args) {
  if (!args.keyword.empty()) problem("range() takes no keyword arguments");
  const size_t n = args.positional.size();
  if (n < 1 || n > 3) problem("range expected 1 to 3 arguments, got " + std::to_string(n));
  for (const Value& v : args.positional)
    if (!v.is_int() && !v.is_bool()) problem("'" + type_name(v) + "' object cannot be interpreted as an integer");
  const int64_t start = n == 1 ? 0 : args.positional[0].as_int();
  const int64_t stop = n == 1 ? args.positional[0].as_int() : args.positional[1].as_int();
  const int64_t step = n == 3 ? args.positional[2].as_int() : 1;
  if (step == 0) problem("range() arg 3 must not be zero");
  const long double count = step > 0 ? (stop > start ? ((long double)stop - start + step - 1) / step : 0)
                                     : (start > stop ? ((long double)start - stop - step - 1) / -step : 0);
  if (count > kMaxRange)
    problem("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(kMaxRange) + ").");
  std::vector<Value> items;
  for (int64_t i = 0; i < int64_t(count); ++i) items.emplace_back(start + i * step);
  std::string display = "range(" + std::to_string(start) + ", " + std::to_string(stop);
  if (step != 1) display += ", " + std::to_string(step);
  return Value::range(std::move(items), display + ")");
}

// dict(mapping or pairs, **kwargs)
Value make_dict(Interpreter&, const CallArgs& args) {
  if (args.positional.size() > 1) problem("dict expected at most 1 argument, got " + std::to_string(args.positional.size()));
  DictData d;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      d = source.dict_data();
    } else {
      for (const Value& pair : iterate(source)) {
        const std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) problem("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) d.set(Value(key), value);
  return Value::dict(std::move(d));
}

Value namespace_object(Interpreter& interp, const CallArgs& args) {
  std::shared_ptr<Object> ns = interp.new_namespace();
  if (args.positional.size() > 1) problem("namespace() takes at most one positional argument");
  if (!args.positional.empty()) {
    if (!args.positional[0].is_dict()) problem("namespace() argument must be a mapping");
    ns->attributes = args.positional[0].dict_data();
  }
  for (const auto& [key, value] : args.keyword) ns->attributes.set(Value(key), value);
  return Value(ns);
}

Value raise_exception(Interpreter&, const CallArgs& args) {
  Arguments a("raise_exception", args, {"message"}, 1);
  problem(to_str(a[0]));
}

Value strftime_now(Interpreter& interp, const CallArgs& args) {
  Arguments a("strftime_now", args, {"format"}, 1);
  const std::string format = a.string(0, "");
  if (!interp.options().clock) problem("strftime_now() needs a clock, and none was given to the renderer");
  const DateTime now = interp.options().clock();
  std::tm tm{};
  tm.tm_year = now.year - 1900;
  tm.tm_mon = now.month - 1;
  tm.tm_mday = now.day;
  tm.tm_hour = now.hour;
  tm.tm_min = now.minute;
  tm.tm_sec = now.second;
  timegm(&tm);  // fills in the weekday and day of the year
  if (format.empty()) return Value("");
  for (size_t size = 256; size <= (size_t(1) << 20); size *= 4) {
    std::string buf(size + format.size() * 8, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    if (n > 0) return Value(buf.substr(0, n));
  }
  return Value("");
}

// joiner(sep): returns "" the first time it is called, then sep.
Value joiner(Interpreter&, const CallArgs& args) {
  Arguments a("joiner", args, {"sep"});
  const std::string separator = a.string(0, ", ");
  auto used = std::make_shared<bool>(false);
  return native("joiner", [separator, used](Interpreter&, const CallArgs&) {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(separator);
  });
}

}  // namespace

DictData builtin_globals() {
  DictData g;
  g.set(Value("range"), native("range", range));
  g.set(Value("dict"), native("dict", make_dict));
  g.set(Value("namespace"), native("namespace", namespace_object));
  g.set(Value("raise_exception"), native("raise_exception", raise_exception));
  g.set(Value("strftime_now"), native("strftime_now", strftime_now));
  g.set(Value("joiner"), native("joiner", joiner));
  return g;
}

}  // namespace edgerun::jinja

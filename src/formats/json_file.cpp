#include "formats/json_file.h"

#include "core/error.h"
#include "core/storage.h"

namespace edgerun {

template <typename Json>
static Json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return Json::parse(text);
  } catch (const json::parse_error& e) {
    fail(path, std::string("invalid JSON: ") + e.what());
  }
}

json read_json_file(const std::string& path) { return parse_json_file<json>(path); }

nlohmann::ordered_json read_ordered_json_file(const std::string& path) {
  return parse_json_file<nlohmann::ordered_json>(path);
}

static std::string field(const std::string& file, const std::string& key) {
  return file + ": field '" + key + "'";
}

const json& json_require(const json& obj, const std::string& key, const std::string& file) {
  if (!obj.is_object()) fail(file, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(field(file, key), "missing");
  return *it;
}

int64_t json_int(const json& obj, const std::string& key, const std::string& file) {
  const json& v = json_require(obj, key, file);
  if (!v.is_number_integer()) fail(field(file, key), "expected an integer, got " + v.dump());
  return v.get<int64_t>();
}

double json_number(const json& obj, const std::string& key, const std::string& file) {
  const json& v = json_require(obj, key, file);
  if (!v.is_number()) fail(field(file, key), "expected a number, got " + v.dump());
  return v.get<double>();
}

std::string json_string(const json& obj, const std::string& key, const std::string& file) {
  const json& v = json_require(obj, key, file);
  if (!v.is_string()) fail(field(file, key), "expected a string, got " + v.dump());
  return v.get<std::string>();
}

static bool present(const json& obj, const std::string& key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

int64_t json_int_or(const json& obj, const std::string& key, int64_t fallback, const std::string& file) {
  return present(obj, key) ? json_int(obj, key, file) : fallback;
}

double json_number_or(const json& obj, const std::string& key, double fallback, const std::string& file) {
  return present(obj, key) ? json_number(obj, key, file) : fallback;
}

bool json_bool_or(const json& obj, const std::string& key, bool fallback, const std::string& file) {
  if (!present(obj, key)) return fallback;
  const json& v = obj.at(key);
  if (!v.is_boolean()) fail(field(file, key), "expected true or false, got " + v.dump());
  return v.get<bool>();
}

std::string json_string_or(const json& obj, const std::string& key, const std::string& fallback,
                           const std::string& file) {
  return present(obj, key) ? json_string(obj, key, file) : fallback;
}

int64_t parse_id_key(const std::string& key) {
  if (key.empty() || key.size() > 18) return -1;
  int64_t id = 0;
  for (char ch : key) {
    if (ch < '0' || ch > '9') return -1;
    id = id * 10 + (ch - '0');
  }
  return id;
}

}  // namespace edgerun

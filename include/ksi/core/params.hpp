#pragma once
/// @file
/// A small typed key-value store: feature-map and generator parameters travel in it between the
/// command line, the model file and the code that builds objects from them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ksi {

class Params {
 public:
  Params() = default;
  Params(std::initializer_list<std::pair<const std::string, std::string>> entries)
      : entries_(entries) {}

  void set(const std::string& key, const std::string& value) { entries_[key] = value; }
  void set(const std::string& key, const char* value) { entries_[key] = value; }
  void set(const std::string& key, double value);
  void set(const std::string& key, std::int64_t value);
  void set(const std::string& key, int value) { set(key, static_cast<std::int64_t>(value)); }
  void set(const std::string& key, std::size_t value) {
    set(key, static_cast<std::int64_t>(value));
  }
  void set(const std::string& key, bool value) { entries_[key] = value ? "true" : "false"; }

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  /// The value of a key that must be present; UsageError naming `context` and the key otherwise.
  std::string text(const std::string& key) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  double real(const std::string& key) const;
  double real(const std::string& key, double fallback) const;
  std::int64_t integer(const std::string& key) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback) const;
  bool flag(const std::string& key, bool fallback) const;
  /// Comma-separated integers, e.g. "3,5".
  std::vector<std::int64_t> integers(const std::string& key) const;

  const std::map<std::string, std::string>& entries() const noexcept { return entries_; }
  /// Used in error messages: "feature map 'fourier'".
  void set_context(std::string context) { context_ = std::move(context); }
  bool operator==(const Params& other) const { return entries_ == other.entries_; }

 private:
  std::map<std::string, std::string> entries_;
  std::string context_ = "parameters";
};

/// The items of `text` between `separator`s, empty ones included ("a++b" gives "a", "", "b"; ""
/// gives one empty item), so that callers can name an empty item in their message.
std::vector<std::string> split_list(const std::string& text, char separator);

}  // namespace ksi

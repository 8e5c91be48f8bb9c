#include "ksi/core/params.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {

void Params::set(const std::string& key, double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  entries_[key] = out.str();
}

void Params::set(const std::string& key, std::int64_t value) {
  entries_[key] = std::to_string(value);
}

std::string Params::text(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) throw UsageError(cat(context_, ": missing parameter '", key, "'"));
  return it->second;
}

std::string Params::text(const std::string& key, const std::string& fallback) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? fallback : it->second;
}

double Params::real(const std::string& key) const {
  const std::string s = text(key);
  double value = 0.0;
  std::size_t used = 0;
  try {
    value = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || !std::isfinite(value))
    throw UsageError(
        cat(context_, ": parameter '", key, "' must be a finite number, not '", s, "'"));
  return value;
}

double Params::real(const std::string& key, double fallback) const {
  return has(key) ? real(key) : fallback;
}

std::int64_t Params::integer(const std::string& key) const {
  const std::string s = text(key);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    throw UsageError(cat(context_, ": parameter '", key, "' must be an integer, not '", s, "'"));
  return value;
}

std::int64_t Params::integer(const std::string& key, std::int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

bool Params::flag(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const std::string s = text(key);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  throw UsageError(cat(context_, ": parameter '", key, "' must be true or false, not '", s, "'"));
}

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

std::vector<std::int64_t> Params::integers(const std::string& key) const {
  std::vector<std::int64_t> out;
  const std::string s = text(key);
  for (const std::string& item : split_list(s, ',')) {
    std::int64_t value = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      throw UsageError(
          cat(context_, ": parameter '", key, "' must be comma-separated integers, not '", s, "'"));
    out.push_back(value);
  }
  return out;
}

}  // namespace ksi

#pragma once
/// @file
/// Message building without <format> (not in GCC 12's library).

#include <cstdio>
#include <sstream>
#include <string>

namespace ksi {

/// Concatenates the stream representations of its arguments.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  out.precision(10);
  (out << ... << args);
  return out.str();
}

/// printf-style formatting into a std::string.
template <class... Args>
std::string sformat(const char* fmt, Args... args) {
  const int n = std::snprintf(nullptr, 0, fmt, args...);
  std::string s(static_cast<std::size_t>(n > 0 ? n : 0), '\0');
  std::snprintf(s.data(), s.size() + 1, fmt, args...);
  return s;
}

}  // namespace ksi

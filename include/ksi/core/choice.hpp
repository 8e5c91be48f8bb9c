#pragma once
/// @file
/// One parser for options that take one of a few names (integrators, kernels, geometries, ...):
/// the same message for every unknown name, listing the names that are known.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "ksi/core/error.hpp"

namespace ksi {

/// A name and the value it stands for; several names may stand for one value (aliases).
template <class T>
using Choice = std::pair<std::string_view, T>;

/// The value named `text` among `choices`; UsageError "unknown WHAT 'TEXT' (known: a, b, ...)"
/// otherwise. `what` names the option, e.g. "--integrator" or "kernel".
template <class T>
T parse_choice(std::string_view what, std::string_view text,
               std::initializer_list<Choice<T>> choices) {
  for (const auto& [name, value] : choices)
    if (name == text) return value;
  std::string known;
  for (const auto& [name, value] : choices) {
    if (!known.empty()) known += ", ";
    known += name;
  }
  throw UsageError("unknown " + std::string(what) + " '" + std::string(text) +
                   "' (known: " + known + ")");
}

}  // namespace ksi

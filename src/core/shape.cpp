#include "ksi/core/shape.hpp"

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {

ItemShape ItemShape::vector(std::size_t d) {
  if (d == 0) throw InputError("a data item must have at least one value");
  ItemShape s;
  s.kind_ = Kind::vector;
  s.dims_ = {d};
  return s;
}

ItemShape ItemShape::grid(std::vector<std::size_t> n) {
  if (n.empty() || n.size() > 3)
    throw InputError(cat("a field grid has 1 to 3 axes, not ", n.size()));
  for (auto k : n)
    if (k < 2) throw InputError("every axis of a field grid needs at least 2 points");
  ItemShape s;
  s.kind_ = Kind::grid;
  s.dims_ = std::move(n);
  return s;
}

std::size_t ItemShape::size() const noexcept {
  std::size_t d = dims_.empty() ? 0 : 1;
  for (auto k : dims_) d *= k;
  return d;
}

std::string ItemShape::describe() const {
  if (!is_grid()) return cat("vector of ", size());
  std::string s;
  for (std::size_t i = 0; i < dims_.size(); ++i) s += (i ? " x " : "") + std::to_string(dims_[i]);
  return s + " grid";
}

}  // namespace ksi

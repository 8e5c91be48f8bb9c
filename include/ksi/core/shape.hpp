#pragma once
/// @file
/// The shape of one data item: a plain vector in R^d or a real field on a periodic grid.

#include <cstddef>
#include <string>
#include <vector>

namespace ksi {

class ItemShape {
 public:
  enum class Kind { vector, grid };

  ItemShape() = default;
  /// A vector of dimension d.
  static ItemShape vector(std::size_t d);
  /// A periodic grid n[0] (x n[1] (x n[2])), 1 to 3 axes, row-major (last axis fastest).
  static ItemShape grid(std::vector<std::size_t> n);

  Kind kind() const noexcept { return kind_; }
  bool is_grid() const noexcept { return kind_ == Kind::grid; }
  /// 0 for vectors, else the number of grid axes.
  int grid_rank() const noexcept { return is_grid() ? static_cast<int>(dims_.size()) : 0; }
  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  /// Number of values d of one item.
  std::size_t size() const noexcept;
  /// "vector of 3" or "64 x 64 grid": for messages and `ksi info`.
  std::string describe() const;

  bool operator==(const ItemShape&) const = default;

 private:
  Kind kind_ = Kind::vector;
  std::vector<std::size_t> dims_;
};

}  // namespace ksi

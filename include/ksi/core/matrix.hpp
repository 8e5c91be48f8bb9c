#pragma once
/// @file
/// A dense row-major matrix of doubles: batches of items (one row per item) and Gram matrices.

#include <cstddef>
#include <span>

#include "ksi/core/aligned.hpp"

namespace ksi {

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, double value = 0.0)
      : rows_(rows), cols_(cols), values_(rows * cols, value) {}

  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  std::size_t size() const noexcept { return values_.size(); }
  bool empty() const noexcept { return values_.empty(); }

  double* data() noexcept { return values_.data(); }
  const double* data() const noexcept { return values_.data(); }
  std::span<double> values() noexcept { return {values_.data(), values_.size()}; }
  std::span<const double> values() const noexcept { return {values_.data(), values_.size()}; }

  std::span<double> row(std::size_t i) noexcept { return {values_.data() + i * cols_, cols_}; }
  std::span<const double> row(std::size_t i) const noexcept {
    return {values_.data() + i * cols_, cols_};
  }
  double& operator()(std::size_t i, std::size_t j) noexcept { return values_[i * cols_ + j]; }
  double operator()(std::size_t i, std::size_t j) const noexcept { return values_[i * cols_ + j]; }

  /// Changes the shape; contents are unspecified afterwards unless the size is unchanged.
  void resize(std::size_t rows, std::size_t cols) {
    rows_ = rows;
    cols_ = cols;
    values_.resize(rows * cols);
  }
  void fill(double value) {
    for (auto& v : values_) v = value;
  }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  AlignedVector<double> values_;
};

}  // namespace ksi

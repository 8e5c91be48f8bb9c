#include "ksi/model/standardization.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi {
namespace {

constexpr double kEmptyShell = 1e-13;  // relative to the largest shell power

// Multiplies the Fourier coefficients of every row (mean removed or added around it) by gain[shell].
void filter_rows(Matrix& items, const std::vector<std::size_t>& dims, std::span<const double> gain,
                 double subtract, double add) {
  const fft::RealTransform transform(dims);
  const auto shells = Standardization::shell_of_modes(dims);
  const double n = static_cast<double>(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  std::vector<double> field(transform.real_size());
  for (std::size_t i = 0; i < items.rows(); ++i) {
    auto row = items.row(i);
    for (std::size_t k = 0; k < row.size(); ++k) field[k] = row[k] - subtract;
    transform.forward(field.data(), spectrum.data());
    for (std::size_t m = 0; m < spectrum.size(); ++m) spectrum[m] *= gain[shells[m]] / n;
    transform.backward_destroying(spectrum.data(), field.data());
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = field[k] + add;
  }
}

}  // namespace

void filter_shells(Matrix& rows, const std::vector<std::size_t>& dims, std::span<const double> gain) {
  filter_rows(rows, dims, gain, 0.0, 0.0);
}

std::vector<double> Standardization::mode_weights(const std::vector<std::size_t>& dims) {
  const std::size_t last = dims.back(), half = last / 2 + 1;
  std::vector<double> weights(shell_of_modes(dims).size());
  for (std::size_t m = 0; m < weights.size(); ++m) {
    const std::size_t k_last = m % half;
    weights[m] = k_last == 0 || 2 * k_last == last ? 1.0 : 2.0;
  }
  return weights;
}

std::size_t Standardization::shell_count(const std::vector<std::size_t>& dims) {
  const auto shells = shell_of_modes(dims);
  return *std::max_element(shells.begin(), shells.end()) + 1;
}

std::vector<std::size_t> Standardization::shell_of_modes(const std::vector<std::size_t>& dims) {
  std::size_t size = 1;
  for (std::size_t a = 0; a + 1 < dims.size(); ++a) size *= dims[a];
  const std::size_t last = dims.back() / 2 + 1;
  size *= last;
  std::vector<std::size_t> shells(size);
  std::vector<std::size_t> index(dims.size(), 0);
  for (std::size_t m = 0; m < size; ++m) {
    std::size_t rest = m;
    double k2 = 0.0;
    for (std::size_t a = dims.size(); a-- > 0;) {
      const std::size_t extent = a + 1 == dims.size() ? last : dims[a];
      const double f = static_cast<double>(fft::frequency(rest % extent, dims[a]));
      rest /= extent;
      k2 += f * f;
    }
    shells[m] = static_cast<std::size_t>(std::llround(std::sqrt(k2)));
  }
  return shells;
}

Standardization Standardization::fit(Matrix& local, const ItemShape& shape, const std::string& mode,
                                     const par::Comm& comm) {
  Standardization st;
  st.mode = mode;
  par::collective(comm, [&] {
    const auto known = modes();
    if (std::find(known.begin(), known.end(), mode) == known.end())
      throw UsageError(cat("unknown standardization '", mode, "' (none, scalar, spectrum)"));
    if (mode == "spectrum" && !shape.is_grid())
      throw UsageError(cat("standardization 'spectrum' needs fields on a periodic grid, but the items are ",
                           shape.describe()));
  });
  if (mode == "none") return st;
  // Double-double sums: the same numbers, to the last bit, for any number of ranks.
  DoubleDouble sums[2];
  for (double v : local.values()) sums[0].add(v);
  sums[1].add(static_cast<double>(local.size()));
  comm.allreduce_sum(std::span<DoubleDouble>(sums, 2));
  const double count = sums[1].value();
  st.mean = sums[0].value() / count;
  DoubleDouble sq[1];
  for (double v : local.values()) sq[0].add((v - st.mean) * (v - st.mean));
  comm.allreduce_sum(std::span<DoubleDouble>(sq, 1));
  st.scale = std::sqrt(sq[0].value() / count);
  if (!(st.scale > 0.0))
    throw par::CollectiveError(ExitCode::input, "the data are constant (zero variance)", 0);
  if (mode == "scalar") {
    for (double& v : local.values()) v = (v - st.mean) / st.scale;
    return st;
  }

  // spectrum: shell powers of the items, summed in double-double over items and ranks.
  const auto& dims = shape.dims();
  const std::vector<std::size_t> grid(dims.begin(), dims.end());
  const auto shells = shell_of_modes(grid);
  const std::size_t shell_count = *std::max_element(shells.begin(), shells.end()) + 1;
  std::vector<DoubleDouble> power(shell_count), modes_in(shell_count);
  {
    const fft::RealTransform transform(grid);
    std::vector<fft::complex> spectrum(transform.complex_size());
    std::vector<double> field(transform.real_size());
    const auto weight = mode_weights(grid);
    for (std::size_t i = 0; i < local.rows(); ++i) {
      const auto row = local.row(i);
      for (std::size_t k = 0; k < row.size(); ++k) field[k] = row[k] - st.mean;
      transform.forward(field.data(), spectrum.data());
      for (std::size_t m = 0; m < spectrum.size(); ++m) power[shells[m]].add(weight[m] * std::norm(spectrum[m]));
    }
    for (std::size_t m = 0; m < shells.size(); ++m) modes_in[shells[m]].add(weight[m]);
  }
  comm.allreduce_sum(std::span<DoubleDouble>(power));
  const double items = count / static_cast<double>(shape.size());
  const double n = static_cast<double>(shape.size());
  st.shell_power.resize(shell_count);
  for (std::size_t s = 0; s < shell_count; ++s)
    st.shell_power[s] = power[s].value() / (items * modes_in[s].value() * n);
  st.to_model(local, shape);
  return st;
}

void Standardization::to_model(Matrix& items, const ItemShape& shape) const {
  if (mode == "none") return;
  if (mode == "scalar") {
    for (double& v : items.values()) v = (v - mean) / scale;
    return;
  }
  const double largest = *std::max_element(shell_power.begin(), shell_power.end());
  std::vector<double> gain(shell_power.size());
  for (std::size_t s = 0; s < gain.size(); ++s)
    gain[s] = shell_power[s] > kEmptyShell * largest ? 1.0 / std::sqrt(shell_power[s]) : 0.0;
  filter_rows(items, {shape.dims().begin(), shape.dims().end()}, gain, mean, 0.0);
}

void Standardization::to_data(Matrix& items, const ItemShape& shape) const {
  if (mode == "none") return;
  if (mode == "scalar") {
    for (double& v : items.values()) v = mean + scale * v;
    return;
  }
  const double largest = *std::max_element(shell_power.begin(), shell_power.end());
  std::vector<double> gain(shell_power.size());
  for (std::size_t s = 0; s < gain.size(); ++s)
    gain[s] = shell_power[s] > kEmptyShell * largest ? std::sqrt(shell_power[s]) : 0.0;
  filter_rows(items, {shape.dims().begin(), shape.dims().end()}, gain, 0.0, mean);
}

}  // namespace ksi

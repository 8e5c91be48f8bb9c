#include "ksi/model/standardization.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/copula.hpp"

namespace ksi {
namespace {

// copula: the smallest P_G, relative to the power of the mapped data on the same shell, used as is.
constexpr double kCopulaReach = 0.1;

// Multiplies the Fourier coefficients of every row (mean removed or added around it) by
// gain(row, shell), `gain_stride` 0 for one row of gains shared by all rows.
void filter_rows(Matrix& items, const std::vector<std::size_t>& dims, const double* gain,
                 std::size_t gain_stride, double subtract, double add) {
  const fft::RealTransform transform(dims);
  const auto shells = Standardization::shell_of_modes(dims);
  const double n = static_cast<double>(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  std::vector<double> field(transform.real_size());
  for (std::size_t i = 0; i < items.rows(); ++i) {
    auto row = items.row(i);
    const double* g = gain + i * gain_stride;
    for (std::size_t k = 0; k < row.size(); ++k) field[k] = row[k] - subtract;
    transform.forward(field.data(), spectrum.data());
    for (std::size_t m = 0; m < spectrum.size(); ++m) spectrum[m] *= g[shells[m]] / n;
    transform.backward_destroying(spectrum.data(), field.data());
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = field[k] + add;
  }
}

void filter_rows(Matrix& items, const std::vector<std::size_t>& dims, std::span<const double> gain,
                 double subtract, double add) {
  filter_rows(items, dims, gain.data(), 0, subtract, add);
}

}  // namespace

void filter_shells(Matrix& rows, const std::vector<std::size_t>& dims,
                   std::span<const double> gain) {
  filter_rows(rows, dims, gain, 0.0, 0.0);
}

void filter_shells(Matrix& rows, const std::vector<std::size_t>& dims, const Matrix& gains) {
  ensure(gains.rows() == rows.rows() && gains.cols() == Standardization::shell_count(dims),
         "per-row shell gains of the wrong shape");
  filter_rows(rows, dims, gains.data(), gains.cols(), 0.0, 0.0);
}

Matrix spread_gains(std::span<const double> gain, const Matrix& spread, const Matrix& normals) {
  ensure(normals.cols() == spread.rows() && (gain.empty() || gain.size() == spread.cols()),
         "spread gains of mismatched sizes");
  Matrix out(normals.rows(), spread.cols());
  for (std::size_t i = 0; i < normals.rows(); ++i)
    for (std::size_t s = 0; s < spread.cols(); ++s) {
      double log_gain = 0.0;
      for (std::size_t k = 0; k < spread.rows(); ++k) log_gain += normals(i, k) * spread(k, s);
      out(i, s) = (gain.empty() ? 1.0 : gain[s]) * std::exp(log_gain);
    }
  return out;
}

std::vector<double> Standardization::mode_weights(const std::vector<std::size_t>& dims) {
  return fft::SpectralShells(dims).weights();
}

std::vector<double> Standardization::modes_per_shell(const std::vector<std::size_t>& dims) {
  return fft::SpectralShells(dims).modes_per_shell();
}

std::size_t Standardization::shell_count(const std::vector<std::size_t>& dims) {
  return fft::SpectralShells(dims).count();
}

std::vector<std::size_t> Standardization::shell_of_modes(const std::vector<std::size_t>& dims) {
  return fft::shell_of_modes(dims);
}

Standardization Standardization::fit(Matrix& local, const ItemShape& shape, const std::string& mode,
                                     const par::Comm& comm) {
  Standardization st;
  st.mode = mode;
  par::collective(comm, [&] {
    const auto known = modes();
    if (std::find(known.begin(), known.end(), mode) == known.end())
      throw UsageError(
          cat("unknown standardization '", mode, "' (none, scalar, spectrum, copula)"));
    if (spectral(mode) && !shape.is_grid())
      throw UsageError(cat("standardization '", mode,
                           "' needs fields on a periodic grid, but the items are ",
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

  const auto& dims = shape.dims();
  const std::vector<std::size_t> grid(dims.begin(), dims.end());
  if (mode == "spectrum") {
    st.shell_power = shell_powers(local, grid, st.mean, comm);
    st.to_model(local, shape);
    return st;
  }

  // copula: the one-point map, the spectrum its Gaussian image needs, then the data through g.
  st.marginal = copula::fit_marginal(local, comm);
  const auto data_power = shell_powers(local, grid, st.mean, comm);
  auto power = copula::gaussian_shell_power(st.marginal, st.mean, data_power, grid);
  for (double& v : local.values()) v = st.marginal.forward(v);
  DoubleDouble g_sum[1];
  for (double v : local.values()) g_sum[0].add(v);
  comm.allreduce_sum(std::span<DoubleDouble>(g_sum, 1));
  const double g_mean = g_sum[0].value() / count;
  // Where the copula cannot reach the data's spectrum (P_G clipped, or far below the power of the
  // mapped data), whiten by the mapped data's own power instead: a near-zero P_G would blow the
  // mapped data up on that shell.
  const auto mapped_power = shell_powers(local, grid, g_mean, comm);
  const double largest = *std::max_element(data_power.begin(), data_power.end());
  for (std::size_t s = 0; s < power.size(); ++s) {
    if (!(data_power[s] > kEmptyShell * largest)) {
      power[s] = 0.0;
    } else if (!(power[s] >= kCopulaReach * mapped_power[s])) {
      power[s] = mapped_power[s];
    }
  }
  st.mean = g_mean;
  st.shell_power = std::move(power);
  st.to_model_whiten(local, shape);
  return st;
}

std::vector<double> Standardization::shell_powers(const Matrix& local,
                                                  const std::vector<std::size_t>& grid, double mean,
                                                  const par::Comm& comm, ItemAverage average) {
  // Summed in double-double over items and ranks: the same bits for any number of ranks.
  const auto shells = shell_of_modes(grid);
  const auto weight = mode_weights(grid);
  const auto modes_in = modes_per_shell(grid);
  const std::size_t shell_count = modes_in.size();
  double n = 1.0;
  for (const auto d : grid) n *= static_cast<double>(d);
  // Per shell, sums of the items' powers, or of the logs of each item's mean power (geometric).
  std::vector<bool> logs(shell_count, false);
  if (average == ItemAverage::geometric)
    for (std::size_t s = 0; s < shell_count; ++s) logs[s] = modes_in[s] >= kGeometricModes;
  std::vector<DoubleDouble> sums(shell_count);
  DoubleDouble items_sum[1];
  items_sum[0].add(static_cast<double>(local.rows()));
  if (average == ItemAverage::geometric) {
    const Matrix items = item_shell_powers(local, grid, mean);
    for (std::size_t i = 0; i < items.rows(); ++i)
      for (std::size_t s = 0; s < shell_count; ++s)
        sums[s].add(logs[s] ? std::log(std::max(items(i, s), std::numeric_limits<double>::min()))
                            : items(i, s) * modes_in[s] * n);
  } else {
    const fft::RealTransform transform(grid);
    std::vector<fft::complex> spectrum(transform.complex_size());
    std::vector<double> field(transform.real_size());
    for (std::size_t i = 0; i < local.rows(); ++i) {
      const auto row = local.row(i);
      for (std::size_t k = 0; k < row.size(); ++k) field[k] = row[k] - mean;
      transform.forward(field.data(), spectrum.data());
      for (std::size_t m = 0; m < spectrum.size(); ++m)
        sums[shells[m]].add(weight[m] * std::norm(spectrum[m]));
    }
  }
  comm.allreduce_sum(std::span<DoubleDouble>(sums));
  comm.allreduce_sum(std::span<DoubleDouble>(items_sum, 1));
  const double items = items_sum[0].value();
  std::vector<double> out(shell_count);
  for (std::size_t s = 0; s < shell_count; ++s)
    out[s] =
        logs[s] ? std::exp(sums[s].value() / items) : sums[s].value() / (items * modes_in[s] * n);
  return out;
}

Matrix Standardization::item_shell_powers(const Matrix& local, const std::vector<std::size_t>& grid,
                                          double mean) {
  const auto shells = shell_of_modes(grid);
  const auto weight = mode_weights(grid);
  const auto modes_in = modes_per_shell(grid);
  const std::size_t shell_count = modes_in.size();
  const fft::RealTransform transform(grid);
  const double n = static_cast<double>(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  std::vector<double> field(transform.real_size());
  Matrix out(local.rows(), shell_count, 0.0);
  for (std::size_t i = 0; i < local.rows(); ++i) {
    const auto row = local.row(i);
    for (std::size_t k = 0; k < row.size(); ++k) field[k] = row[k] - mean;
    transform.forward(field.data(), spectrum.data());
    auto power = out.row(i);
    for (std::size_t m = 0; m < spectrum.size(); ++m)
      power[shells[m]] += weight[m] * std::norm(spectrum[m]);
    for (std::size_t s = 0; s < shell_count; ++s) power[s] /= modes_in[s] * n;
  }
  return out;
}

void Standardization::to_model(Matrix& items, const ItemShape& shape) const {
  if (mode == "none") return;
  if (mode == "scalar") {
    for (double& v : items.values()) v = (v - mean) / scale;
    return;
  }
  if (has_table())
    for (double& v : items.values()) v = marginal.forward(v);
  to_model_whiten(items, shape);
}

void Standardization::to_model_whiten(Matrix& items, const ItemShape& shape) const {
  const double largest = *std::max_element(shell_power.begin(), shell_power.end());
  std::vector<double> gain(shell_power.size());
  for (std::size_t s = 0; s < gain.size(); ++s)
    gain[s] = shell_power[s] > kEmptyShell * largest ? 1.0 / std::sqrt(shell_power[s]) : 0.0;
  filter_rows(items, {shape.dims().begin(), shape.dims().end()}, gain, mean, 0.0);
}

std::vector<double> Standardization::colouring_gains() const {
  if (!spectral(mode)) return {};
  const double largest = *std::max_element(shell_power.begin(), shell_power.end());
  std::vector<double> gain(shell_power.size());
  for (std::size_t s = 0; s < gain.size(); ++s)
    gain[s] = shell_power[s] > kEmptyShell * largest ? std::sqrt(shell_power[s]) : 0.0;
  return gain;
}

features::FieldUnits Standardization::data_units(std::size_t knots) const {
  features::FieldUnits units;
  if (mode == "none") return units;
  units.offset = mean;
  if (mode == "scalar") {
    units.gain = scale;
    return units;
  }
  units.colour = colouring_gains();
  if (has_table()) {
    const double low = marginal.z.front(), high = marginal.z.back();
    std::vector<double> z(knots), x(knots);
    for (std::size_t i = 0; i < knots; ++i) {
      z[i] = low + (high - low) * static_cast<double>(i) / static_cast<double>(knots - 1);
      x[i] = marginal.inverse(z[i]);
    }
    units.curve = MonotoneCurve(std::move(z), std::move(x));
  }
  return units;
}

void Standardization::to_data(Matrix& items, const ItemShape& shape,
                              std::vector<double>* beyond) const {
  if (beyond != nullptr) beyond->clear();
  if (mode == "none") return;
  if (mode == "scalar") {
    for (double& v : items.values()) v = mean + scale * v;
    return;
  }
  filter_rows(items, {shape.dims().begin(), shape.dims().end()}, colouring_gains(), 0.0, mean);
  if (!has_table()) return;
  if (beyond != nullptr) {
    // MarginalTable::inverse clamps every level not strictly inside the table (NaN too).
    const double low = marginal.z.front(), high = marginal.z.back();
    beyond->assign(items.rows(), 0.0);
    for (std::size_t i = 0; i < items.rows(); ++i) {
      std::size_t out = 0;
      for (const double v : items.row(i)) out += (v > low && v < high) ? 0 : 1;
      (*beyond)[i] =
          static_cast<double>(out) / static_cast<double>(std::max<std::size_t>(1, items.cols()));
    }
  }
  for (double& v : items.values()) v = marginal.inverse(v);
}

}  // namespace ksi

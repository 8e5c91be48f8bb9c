// Option checks and the snapshot chains of `ksi synth turbulence`.
#include "ksi/synth/turbulence.hpp"

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::synth {
namespace {

void check_grid(std::size_t n, std::size_t largest) {
  if (n < 8 || n > largest || n % 2 != 0)
    throw UsageError(
        cat("the turbulence grid must be an even size from 8 to ", largest, ", not ", n));
}

// Integer wavevectors (2D or 3D) with lo < |k| <= hi.
std::size_t band_modes(double lo, double hi, int dimension) {
  const long reach = static_cast<long>(std::ceil(hi));
  std::size_t count = 0;
  for (long a = -reach; a <= reach; ++a)
    for (long b = -reach; b <= reach; ++b)
      for (long c = dimension == 3 ? -reach : 0; c <= (dimension == 3 ? reach : 0); ++c) {
        const double k2 = double(a * a + b * b + c * c);
        if (k2 > lo * lo && k2 <= hi * hi) ++count;
      }
  return count;
}

void check_band(double lo, double hi, std::size_t n, int dimension) {
  if (!(lo >= 0.0 && hi > lo && std::isfinite(hi)))
    throw UsageError(cat("the forcing band needs 0 <= min < max, not (", lo, ", ", hi, "]"));
  if (hi >= static_cast<double>(n) / 3.0)
    throw UsageError(cat("the forcing band (", lo, ", ", hi,
                         "] must lie below the dealiasing limit ", static_cast<double>(n) / 3.0,
                         " of a ", n, "-point grid"));
  if (band_modes(lo, hi, dimension) == 0)
    throw UsageError(cat("the forcing band (", lo, ", ", hi, "] holds no wavenumber"));
}

void check_positive(double value, const char* what) {
  if (!(value > 0.0 && std::isfinite(value)))
    throw UsageError(cat(what, " must be positive, not ", value));
}

void check_non_negative(double value, const char* what) {
  if (!(value >= 0.0 && std::isfinite(value)))
    throw UsageError(cat(what, " must be zero or positive, not ", value));
}

}  // namespace

void validate(const NavierStokesOptions& o) {
  check_grid(o.grid, 1024);
  check_non_negative(o.viscosity, "the viscosity");
  check_positive(o.kmax_eta, "k_max eta");
  check_non_negative(o.injection_rate, "the injection rate");
  check_band(o.forcing_min, o.forcing_max, o.grid, 3);
  if (!(o.cfl > 0.0 && o.cfl <= 1.5))
    throw UsageError(cat("the CFL number must be in (0, 1.5], not ", o.cfl));
}

void validate(const VorticityOptions& o) {
  check_grid(o.grid, 8192);
  check_non_negative(o.viscosity, "the viscosity");
  if (o.dissipation_order < 1 || o.dissipation_order > 8)
    throw UsageError(cat("the dissipation order must be 1 to 8, not ", o.dissipation_order));
  check_non_negative(o.injection_rate, "the injection rate");
  check_band(o.forcing_min, o.forcing_max, o.grid, 2);
  check_non_negative(o.drag, "the drag");
  if (!(o.cfl > 0.0 && o.cfl <= 1.5))
    throw UsageError(cat("the CFL number must be in (0, 1.5], not ", o.cfl));
}

void validate(const TurbulenceOptions& o) {
  if (o.dimension == 3) {
    validate(o.flow3d);
    if (!(o.flow3d.injection_rate > 0.0))
      throw UsageError("turbulence snapshots need forcing: the injection rate must be positive");
  } else if (o.dimension == 2) {
    validate(o.flow2d);
    if (!(o.flow2d.injection_rate > 0.0))
      throw UsageError("turbulence snapshots need forcing: the injection rate must be positive");
    if (!(o.flow2d.drag > 0.0) && o.flow2d.dissipation_order > 1)
      throw UsageError(
          "2D turbulence with hyperviscosity needs a positive drag (the inverse cascade "
          "would pile up energy at the box scale)");
  } else {
    throw UsageError(cat("the turbulence dimension must be 2 or 3, not ", o.dimension));
  }
  check_non_negative(o.spinup_turnovers, "the spin-up (in turnover times)");
  if (!(o.snapshot_turnovers >= 1.0 && std::isfinite(o.snapshot_turnovers)))
    throw UsageError(cat("snapshots must be at least one large-eddy turnover apart, not ",
                         o.snapshot_turnovers));
  if (o.snapshots_per_chain == 0) throw UsageError("snapshots per chain must be positive");
  check_positive(o.initial_energy, "the initial energy");
  check_positive(o.initial_peak, "the initial peak wavenumber");
}

TurbulenceChain::TurbulenceChain(const TurbulenceOptions& options, std::size_t chain)
    : options_((validate(options), options)), chain_(chain) {
  if (options_.dimension == 3) {
    flow3d_ = std::make_unique<NavierStokes3D>(options_.flow3d);
    flow3d_->randomize(options_.seed, chain_, options_.initial_peak, options_.initial_energy);
  } else {
    flow2d_ = std::make_unique<Vorticity2D>(options_.flow2d);
    flow2d_->randomize(options_.seed, chain_, options_.initial_peak, options_.initial_energy);
  }
}

TurbulenceChain::~TurbulenceChain() = default;
TurbulenceChain::TurbulenceChain(TurbulenceChain&&) noexcept = default;
TurbulenceChain& TurbulenceChain::operator=(TurbulenceChain&&) noexcept = default;

ItemShape TurbulenceChain::item_shape() const {
  if (flow3d_) {
    const auto n = flow3d_->grid();
    return ItemShape::grid({n, n, n});
  }
  const auto n = flow2d_->grid();
  return ItemShape::grid({n, n});
}

void TurbulenceChain::next(std::span<double> item) {
  const double turnovers = produced_ == 0 ? options_.spinup_turnovers : options_.snapshot_turnovers;
  if (flow3d_) {
    if (turnovers > 0.0) flow3d_->advance_turnovers(turnovers);
    flow3d_->quantity(options_.quantity, item);
  } else {
    if (turnovers > 0.0) flow2d_->advance_turnovers(turnovers);
    flow2d_->quantity(options_.quantity, item);
  }
  ++produced_;
}

double TurbulenceChain::longitudinal_skewness() {
  return flow3d_ ? flow3d_->longitudinal_skewness() : std::nan("");
}

FlowDiagnostics TurbulenceChain::diagnostics() const {
  return flow3d_ ? flow3d_->diagnostics() : flow2d_->diagnostics();
}

}  // namespace ksi::synth

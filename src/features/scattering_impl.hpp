#pragma once
// Internals of ScatteringSpectra shared by its source files: the coefficient catalogue, the index
// tables of the filter supports on every grid, the FFT plans, and the per-item forward state.
//
// Notation (see scattering.hpp): c_x(m) = xhat(m) / N are the Fourier coefficients of x on the full
// grid; for wavelet lambda on its grid G (N_G points), U_lambda = sum_m c_x(m) psihat(m) /
// sqrt(a_lambda) e^{i m y} and c_M(m) = FFT_G(|U_lambda|)(m) / N_G. For an "outer" support lambda
// at scale j, the gathered matrix A_lambda (built on demand, one outer at a time) has rows c_M of
// every lambda' with j' < j (partners, in wavelet order) and a last row c_x, all on the support
// S_lambda. With W = psihat_lambda^2 the Hermitian matrix (A o psihat)(A o psihat)^H holds every
// Phi2 (last diagonal entry), Phi3 (last column) and Phi4 (partner block) whose outer support is
// lambda, and the gradient of sum Re(conj(w) F) with respect to conj(A) is Omega (A o W) with
// Omega_ik = (w_ik + conj(w_ki)) / 2. Rows of that product for partners are gradients with respect
// to conj(c_M) ("H"), the last row is a direct contribution to the gradient with respect to
// conj(c_x) ("G"). The low-pass is one more outer support, without partners.

#include <complex>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/aligned.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/features/wavelets.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::features::scattering {

using complex = std::complex<double>;
using ComplexVector = AlignedVector<complex>;
using RealVector = AlignedVector<double>;

enum class Family : std::uint8_t { mean, phi1, phi2, phi3, phi4 };

/// One raw (complex or real) coefficient. phi1/phi2: a = lambda; phi3: a = lambda (outer, U slot),
/// b = lambda' (modulus slot, j' < j); phi4: a = lambda1, b = lambda2, c = lambda3 (outer).
struct Config {
  Family family = Family::mean;
  int a = -1, b = -1, c = -1;
  bool real = false;
  bool operator<(const Config& o) const {
    if (family != o.family) return family < o.family;
    if (a != o.a) return a < o.a;
    if (b != o.b) return b < o.b;
    return c < o.c;
  }
};

/// phi_p = sum over terms of coef * (imag ? Im : Re) raw[config].
struct Term {
  int config = 0;
  bool imag = false;
  double coef = 1.0;
};

struct Feature {
  std::vector<Term> terms;
  std::string name;
};

/// {sigma, low / sigma, high / sigma} of the values of the fields of all ranks (ratios clipped to
/// +-8): sigma the rms over every item's `size` values from this rank's per-item sums of squares
/// (in item order, so the same bits on any rank count), low / high this rank's extremes.
/// CollectiveError "<subject> are constant or not finite" where sigma is not positive and finite.
std::vector<double> value_scale(std::span<const double> local_squares, double low, double high,
                                std::size_t size, const par::Comm& comm, const char* subject);

/// The soft bin exp(-d^2 / 2) of the binned families (conditional, contrast).
inline double bump(double d) {
  return std::exp(-0.5 * d * d);
}

/// Hands every local item's values to `each` in turn (inside a collective section).
using ItemValues = std::function<void(const std::function<void(std::span<const double>)>& each)>;

/// With q > 0, replaces the range {.., low / sigma, high / sigma} of `constants` (value_scale's)
/// by the [q, 1 - q] quantiles of v / sigma over the values of every rank's items (`visit`),
/// read off a histogram of 2^16 bins on that range with integer counts (the same bits on any rank
/// count) and linear within a bin. Keeps the range if the quantiles do not span one.
void tail_range(std::vector<double>& constants, double q, const ItemValues& visit,
                const par::Comm& comm);

/// value_scale of the items' own values (the rows of `local_items`, each of `size` values), the
/// range then taken at their [tail, 1 - tail] quantiles (tail_range).
std::vector<double> item_value_scale(const Matrix& local_items, std::size_t size, double tail,
                                     const par::Comm& comm, const char* subject);

/// The per-feature means over every rank's items of per-item values (`local`: this rank's items
/// x `count`, in item order, so the same bits on any rank count), each floored at 1e-3 of the
/// largest: the constants a_jm of the binned families.
std::vector<double> floored_item_means(const std::vector<double>& local, std::size_t count,
                                       const par::Comm& comm);

/// The value at m of a real field's spectrum stored as an r2c half array: the entry itself, or the
/// conjugate of the mirror's (`plus` / `minus`: the r2c indices of m and -m, -1 if not stored).
inline complex read_half(const complex* half, std::int32_t plus, std::int32_t minus) {
  return plus >= 0 ? half[plus] : std::conj(half[minus]);
}

/// Adds the contribution g at m to the half array of G(k) + conj(G(-k)).
inline void scatter_half(complex* half, std::int32_t plus, std::int32_t minus, complex g) {
  if (plus >= 0) half[plus] += g;
  if (minus >= 0) half[minus] += std::conj(g);
}

/// FFT plans of one grid: single and batched transforms.
struct Grid {
  int id = 0;  // distinct grids numbered from the full grid (0) to the coarsest
  std::vector<std::size_t> dims;
  std::size_t size = 0;       // real points
  std::size_t half_size = 0;  // r2c coefficients
  std::size_t batch = 1;
  std::unique_ptr<fft::RealTransform> real_single, real_batch;
  std::unique_ptr<fft::ComplexTransform> complex_single, complex_batch;
};

/// Index tables of one wavelet's support S (entries e).
struct Support {
  int scale = 0;
  std::span<const double> psi;           // psihat(m_e), owned by the bank
  std::vector<std::int32_t> grid_index;  // m_e in the complex array of its scale's grid
  // Per distinct grid up to the scale's (by Grid::id): r2c index of m_e / -m_e, or -1 if not in the
  // half array. Scales on the same grid share one table.
  std::vector<std::vector<std::int32_t>> plus, minus;
  std::vector<std::int32_t> column_plus, column_minus;  // Gram columns of m_e / -m_e, or -1
  const std::int32_t* plus_on(const Grid& g) const { return plus[g.id].data(); }
  const std::int32_t* minus_on(const Grid& g) const { return minus[g.id].data(); }
};

/// One Omega entry of a row: Hon_i(outer) += omega * A_k(outer) o psihat_outer^2.
struct OmegaEntry {
  int outer = 0;
  int k = 0;
  complex omega;
};

/// The pieces of one output feature's gradient, by wavelet.
struct RowPlan {
  std::size_t feature = 0;
  int finest_scale = 0;
  bool is_mean = false;
  /// Gradient through M_lambda: entries with i = lambda, plus a Phi1 constant.
  struct Modulus {
    int wavelet = 0;
    double phi1 = 0.0;
    std::vector<OmegaEntry> sources;
  };
  std::vector<Modulus> modulus;
  /// Direct gradient through c_x on S_outer: entries with i = last row.
  struct Direct {
    int outer = 0;
    std::vector<OmegaEntry> sources;
  };
  std::vector<Direct> direct;
};

/// What one forward pass keeps (outer vectors sized once; inner buffers keep their capacity).
struct ForwardState {
  ComplexVector cx;                  // full-grid r2c / N
  std::vector<ComplexVector> cm;     // per wavelet: r2c(M) / N_G on its grid
  std::vector<ComplexVector> phase;  // per wavelet: U / |U| on its grid
  std::vector<complex> raw;          // per config
};

/// Buffers reused from call to call: large allocations would otherwise dominate with page faults.
struct Workspace {
  ForwardState state;
  ComplexVector u, spectrum, field, gathered, weighted, hon, gradient, vhat, piece, gram;
  RealVector modulus, gm, qv;
  std::vector<ComplexVector> H, omega;
  RealVector marginal_field;        // marginal family: u = C x, then gradient fields
  RealVector marginal_row_field;    // accumulate: the marginal rows before their transforms
  ComplexVector marginal_spectrum;  // marginal family: r2c of one field
  ComplexVector marginal_rows;   // accumulate: the dense rows (marginal, conditional, contrast) on
                                 // the Gram columns
  ComplexVector marginal_rest;   // accumulate: the same on the coefficients outside them
  RealVector energy;             // conditional family: E_j on the full grid, per scale
  RealVector weights;            // conditional, contrast families: W_j of a gradient, per scale
  ComplexVector wavelet_fields;  // conditional family: U_{j,l} on the full grid, per wavelet
  RealVector conditional_rows;   // conditional family: its Jacobian rows on the grid
  RealVector contrast_fields;    // contrast family: g_j = D_j x on the full grid, per scale
  RealVector contrast_rows;      // contrast family: one Jacobian row on the grid
  ComplexVector contrast_spectrum;  // contrast family: r2c of one field
  ComplexVector shell_rows;  // accumulate: the shell rows on the Gram columns (one value each)
  ComplexVector shell_rest;  // accumulate: the same on the coefficients outside them
  ComplexVector window;      // accumulate: pieces of the units held in a window
  ComplexVector streamed;    // accumulate: pieces of the unit streamed past them
  std::vector<double> products;

  // evaluate / vjp and accumulate use different large buffers (at 128^3 with L = 7 about a GB
  // each); switching from one to the other frees the other's, so a map that fits and then samples
  // never holds both.
  void release_gram_buffers() {
    release(window);
    release(streamed);
    release(products);
    release(marginal_rows);
    release(marginal_rest);
    release(shell_rows);
    release(shell_rest);
  }
  void release_pass_buffers() {
    for (auto& h : H) release(h);
    H.clear();
    release(gathered);
    release(weighted);
    release(hon);
    release(gradient);
  }

 private:
  template <class Vector>
  static void release(Vector& v) {
    Vector().swap(v);
  }
};

struct ForwardNeeds {
  bool modulus = false;  // c_M of every wavelet
  bool phase = false;    // U / |U|
  bool values = true;    // raw config values
};

}  // namespace ksi::features::scattering

namespace ksi::features {

// The scattering sources' shared names (this header is theirs alone).
using scattering::complex;
using scattering::ComplexVector;
using scattering::Family;
using scattering::Grid;
using scattering::read_half;
using scattering::RealVector;
using scattering::RowPlan;
using scattering::scatter_half;

struct ScatteringSpectra::Impl {
  using Config = scattering::Config;
  using Feature = scattering::Feature;

  Impl(const ItemShape& shape, const ScatteringOptions& options,
       const ScatteringNormalization& normalization);

  WaveletBank bank;
  int J = 0, L = 0;
  std::size_t count = 0;  // wavelets
  ScatteringFamilies families;
  bool any_modulus = false;                              // phi1, phi3 or phi4
  bool any_partner = false;                              // phi3 or phi4
  std::vector<std::shared_ptr<scattering::Grid>> grids;  // per scale; grids[0] is the full grid
  std::vector<scattering::Support> supports;             // per wavelet
  std::vector<double> inv_sqrt_a;                        // 1 / sqrt(a_lambda)
  std::vector<double> b;                                 // count x count
  std::vector<Config> configs;
  std::map<Config, int> config_index;
  std::vector<std::vector<int>> configs_by_outer;  // phi2, phi3, phi4 configs of each outer support
  std::vector<Feature> features;
  int mean_config = -1;

  // Gram layout: global column order (coarsest shell first); prefix[s] columns have level >= s.
  std::vector<std::int32_t> column_half;
  std::vector<double> column_scale;
  std::vector<std::size_t> prefix;
  std::vector<std::int32_t> uncovered;    // r2c coefficients outside every support (k = 0 first)
  std::vector<double> uncovered_scale;    // sqrt(w_k / N) of each, as column_scale
  std::vector<scattering::RowPlan> rows;  // every scattering feature
  std::vector<std::vector<std::size_t>> panel_rows;  // per finest scale: indices into rows
  std::size_t workspace_bytes = 0;

  /// Index of the low-pass among the supports (it enters Phi2 only, like an outer wavelet of scale
  /// J - 1 without partners).
  int lowpass() const { return static_cast<int>(count); }
  std::size_t outer_count() const { return count + 1; }
  int scale_of(int wavelet) const { return wavelet == lowpass() ? J - 1 : wavelet / L; }
  int partners_of(int wavelet) const {
    return any_partner && wavelet != lowpass() ? scale_of(wavelet) * L : 0;
  }
  double beta3(int outer, int partner) const;
  double beta4(int first, int second, int outer) const;

  // Marginal family (scattering.hpp): features [features.size(), features.size() + bins).
  struct Marginal {
    int bins = 0;
    std::vector<double> colour;  // per full-grid r2c coefficient (empty: 1)
    double sigma = 1.0, low = -4.0, high = 4.0;
    std::vector<double> inv_mass;
    double width() const { return (high - low) / bins; }
    double centre(int m) const { return low + (m + 0.5) * width(); }
    /// out[m] = <h_m(u / sigma)> / mass_m.
    void histogram(std::span<const double> u, std::span<double> out) const;
  } marginal;
  void setup_marginal(const ScatteringOptions& options, const ScatteringNormalization& n);
  /// u = C x into ws.marginal_field from c_x = r2c(x) / N.
  void coloured_field(const scattering::complex* cx, scattering::Workspace& ws) const;
  /// The marginal features of the field whose c_x is state.cx (after forward).
  void marginal_values(scattering::Workspace& ws, std::span<double> out) const;
  /// grad += the gradient of sum_m eta_m marginal_m (after forward).
  void marginal_gradient(scattering::Workspace& ws, std::span<const double> eta,
                         std::span<double> grad) const;
  /// The dense rows of J (after forward), the marginal bins then (with_conditional) the conditional
  /// and contrast
  /// features: sqrt(w_k / N) R(k) on the Gram columns into ws.marginal_rows (dense_count() x
  /// prefix[0]) and on the uncovered coefficients into ws.marginal_rest.
  void marginal_rows(scattering::Workspace& ws, std::span<const double> x,
                     bool with_conditional = true) const;
  std::size_t dense_count() const {
    return static_cast<std::size_t>(marginal.bins) + conditional.count() + contrast.count();
  }

  // Conditional family (scattering_conditional.cpp): features [features.size() + marginal.bins,
  // + conditional.count()), feature f * bins + m binned field f (below) within value bin m.
  struct Conditional {
    int bins = 0, scales = 0;
    // Conditional family: the binned fields are blocks of wavelet_scales (= J) fields each, the
    // energies E_j = sum_l |U_{j,l}|^2 (`energy`) then the moduli M_j = sum_l |U_{j,l}|
    // (`modulus`); scales = J times the blocks. Field f is scale f % J of its block.
    bool energy = true, modulus = false;
    int wavelet_scales = 0;
    bool is_modulus(int f) const { return modulus && (!energy || f >= wavelet_scales); }
    /// The factor on U in the adjoint of a weight w on field f: |U|^2 gives 2 w, |U| gives
    /// w / |U| (0 at U = 0, where the modulus has no gradient).
    double adjoint_factor(int f, scattering::complex u, double w) const {
      if (!is_modulus(f)) return 2.0 * w;
      const double a = std::abs(u);
      return a > 0.0 ? w / a : 0.0;
    }
    double sigma = 1.0, low = -4.0, high = 4.0;
    std::vector<double> inv_mass;  // per feature: 1 / a_jm
    std::vector<std::vector<std::int32_t>>
        index;  // per wavelet: full-grid index of each support entry
    double width() const { return (high - low) / bins; }
    double centre(int m) const { return low + (m + 0.5) * width(); }
    std::size_t count() const {
      return static_cast<std::size_t>(bins) * static_cast<std::size_t>(scales);
    }
    /// `bins` bins at `scales` scales: UsageError outside 0..64; with no bins, InputError if
    /// `constants` are stored anyway. True if the family is on.
    bool configure(int bins, int scales, const std::vector<double>& constants, const char* family);
    /// sigma, the range and 1 / a_jm from the stored `constants` (empty: unit constants);
    /// InputError naming the `family` for a wrong count or invalid values.
    void read_constants(const std::vector<double>& constants, const char* family);
    /// Bin m at every point of x: h = h_m(x / sigma) and dh = dh_m / dx.
    void bin_fields(int m, std::span<const double> x, std::vector<double>& h,
                    std::vector<double>& dh) const {
      const double inv_sigma = 1.0 / sigma, inv_w = 1.0 / width();
      for (std::size_t y = 0; y < x.size(); ++y) {
        const double d = (x[y] * inv_sigma - centre(m)) * inv_w;
        h[y] = scattering::bump(d);
        dh[y] = -d * h[y] * inv_w * inv_sigma;
      }
    }
  } conditional;
  /// A binned family's per-item values with the constants of `C` (conditional_values or
  /// contrast_values, after forward).
  using BinnedValues = std::function<void(scattering::Workspace& ws, std::span<const double> x,
                                          const Conditional& C, std::span<double> out)>;
  /// The constants of a binned family `C` on the training items: sigma and the range of z
  /// (item_value_scale with the `tail` quantiles, `subject` naming the data in its errors), then
  /// a_jm, the floored means of the per-item `values` with unit constants, in item order (the same
  /// bits on any rank count).
  std::vector<double> calibrate_binned(const Matrix& local_items, const Conditional& C, double tail,
                                       const char* subject, const BinnedValues& values,
                                       const par::Comm& comm) const;
  void setup_conditional(const ScatteringOptions& options, const ScatteringNormalization& n);
  /// E_j of the field whose c_x is in ws (after forward), and every U_{j,l}, on the full grid.
  void conditional_energies(scattering::Workspace& ws) const;
  /// The conditional features of the field x (after forward), with the constants of `C`.
  void conditional_values(scattering::Workspace& ws, std::span<const double> x,
                          const Conditional& C, std::span<double> out) const;
  /// A binned family's values out[j B + m] = <F_j h_m(x / sigma)> / a_jm (F_j the scale-j fields,
  /// `fields` scales x N; |F_j| with `absolute`; conditional: E_j, contrast: g_j).
  void binned_means(const Conditional& C, std::span<const double> x, const double* fields,
                    bool absolute, std::span<double> out) const;
  /// The bins' part of the gradient of a binned family sum_{j,m} eta_jm <F_j h_m> / a_jm (F_j the
  /// scale-j fields, `fields` scales x N): ws.weights = W_j = sum_m c_jm h_m and pointwise +=
  /// sum_{j,m} c_jm F_j h_m', c_jm = eta_jm / (N a_jm) (conditional: F_j = E_j; contrast: g_j).
  void binned_gradient(scattering::Workspace& ws, const Conditional& C, std::span<const double> x,
                       std::span<const double> eta, const double* fields,
                       std::span<double> pointwise) const;
  /// G += the r2c spectrum of the part of the gradient of sum_f eta_f cond_f that goes through the
  /// wavelets, and pointwise += the part through the bins (after forward).
  void conditional_gradient(scattering::Workspace& ws, std::span<const double> x,
                            std::span<const double> eta, scattering::complex* G,
                            std::span<double> pointwise) const;
  /// Every conditional row of J on the grid into ws.conditional_rows (count x N; after forward).
  void conditional_jacobian(scattering::Workspace& ws, std::span<const double> x) const;

  // Contrast family (scattering_contrast.cpp): features [features.size() + marginal.bins +
  // conditional.count(), + contrast.count()), feature j * bins + m the contrast g_j = D_j x of
  // scale j within value bin m. Its bins and constants have the conditional family's layout.
  Conditional contrast;
  std::vector<double> contrast_filter;  // d_j(k) = 1 - exp(-|omega_k|^2 R_j^2 / 2), j * half + k
  void setup_contrast(const ScatteringOptions& options, const ScatteringNormalization& n);
  std::size_t contrast_first() const {
    return features.size() + static_cast<std::size_t>(marginal.bins) + conditional.count();
  }
  /// g_j = D_j x on the full grid into ws.contrast_fields, from c_x (after forward).
  void contrast_contrasts(scattering::Workspace& ws) const;
  /// The contrast features of the field x (after forward), with the constants of `C`; with
  /// `absolute`, of |g_j| (the calibration's scale).
  void contrast_values(scattering::Workspace& ws, std::span<const double> x, const Conditional& C,
                       std::span<double> out, bool absolute = false) const;
  /// G += the r2c spectrum of the part of the gradient of sum_f eta_f contrast_f through the
  /// filters (times N, as conditional_gradient's), and pointwise += the part through the bins.
  void contrast_gradient(scattering::Workspace& ws, std::span<const double> x,
                         std::span<const double> eta, scattering::complex* G,
                         std::span<double> pointwise) const;
  /// Every contrast row of J on the grid (after forward), handed to `take` (feature f within the
  /// family, the row's N values) one at a time.
  using ContrastRow = std::function<void(std::size_t f, const double* row)>;
  void contrast_jacobian(scattering::Workspace& ws, std::span<const double> x,
                         const ContrastRow& take) const;

  // Shell family (scattering.hpp): features [shells.first, shells.first + shells.count()). Every
  // r2c coefficient belongs to at most one shell feature, so the family's rows are disjoint.
  struct Shells {
    std::size_t first = 0;                   // index of the first shell feature
    std::vector<int> shell;                  // per feature: its shell s
    std::vector<double> value;               // per feature: N / (a_s m_s)
    std::vector<std::int32_t> of_half;       // per full-grid r2c coefficient: feature or -1
    std::vector<double> weight;              // per r2c coefficient: w_k (1 or 2)
    std::vector<std::int32_t> of_column;     // per Gram column: feature or -1
    std::vector<std::int32_t> of_uncovered;  // per uncovered coefficient: feature or -1
    std::size_t count() const { return shell.size(); }
  } shells;
  void setup_shells(const ScatteringOptions& options, const ScatteringNormalization& n);
  /// The shell features of the field whose c_x is state.cx (after forward).
  void shell_values(const scattering::ForwardState& state, std::span<double> out) const;
  /// G += the r2c spectrum of the gradient of sum_f eta_f shell_f.
  void shell_gradient(const scattering::ForwardState& state, std::span<const double> eta,
                      scattering::complex* G) const;
  /// The shell rows of J (after forward): sqrt(w_k / N) R(k) at each Gram column (its shell's row)
  /// into ws.shell_rows and at each uncovered coefficient into ws.shell_rest.
  void shell_rows(scattering::Workspace& ws) const;

  void build_catalogue(bool isotropic, bool phi4_diagonal);
  void build_tables();
  void build_rows();

  /// Rows of an outer support's gathered matrix: partners (when `partners`) and c_x last.
  int gathered_rows(int outer, bool partners) const {
    return (partners && outer != lowpass() ? scale_of(outer) * L : 0) + 1;
  }
  /// Columns [first, first + count) of the gathered matrix of one outer support (rows x count,
  /// row-major) into `out`.
  void gather(const scattering::ForwardState& state, int outer, int rows, std::size_t first,
              std::size_t count, scattering::ComplexVector& out) const;
  /// The same slice times psihat (squared: psihat^2) into ws.weighted, through ws.gathered.
  void gather_weighted(scattering::Workspace& ws, int outer, int rows, std::size_t first,
                       std::size_t count, bool squared) const;
  /// Support entries per slice of a gathered matrix of `rows` rows: slices of about 16 MB keep the
  /// gathered, weighted and product matrices small at any grid size (full supports would take
  /// 270 MB each at 128^3) while the BLAS calls stay long.
  static std::size_t gather_slice(int rows) {
    return std::max<std::size_t>(
        4096, (std::size_t{16} << 20) /
                  (sizeof(scattering::complex) * static_cast<std::size_t>(std::max(rows, 1))));
  }
  /// The pieces of rows [first_row, first_row + row_count) of panel `panel` (after forward with
  /// modulus and phase): each row's sqrt(w_k / N) R(k) on the first `columns` Gram columns, into
  /// q_out (row_count x columns).
  void unit_pieces(scattering::Workspace& ws, int panel, std::size_t first_row,
                   std::size_t row_count, std::size_t columns, scattering::complex* q_out) const;
  void forward(std::span<const double> x, const scattering::ForwardNeeds& needs,
               scattering::Workspace& ws) const;
  void values(scattering::Workspace& ws) const;
  /// Every feature of the field x whose forward state is in ws (after forward with values).
  void feature_values(scattering::Workspace& ws, std::span<const double> x,
                      std::span<double> phi) const;
  /// grad = J^T eta for the field x whose forward state (modulus, phase) is in ws.
  void gradient(scattering::Workspace& ws, std::span<const double> x, std::span<const double> eta,
                std::span<double> grad) const;
  /// grad = the gradient of sum_c Re(conj(w_c) raw_c) + sum_f shell_eta_f shell_f (shell_eta may
  /// be empty).
  void backward(scattering::Workspace& ws, std::span<const scattering::complex> w,
                std::span<const double> shell_eta, std::span<double> grad) const;

  // One workspace per map: the FeatureMap calls are serialised on it.
  mutable std::mutex workspace_lock;
  mutable scattering::Workspace workspace;
};

}  // namespace ksi::features

#include "ksi/fft/fft.hpp"

#include <fftw3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::fft {
namespace {

// FFTW's planner is not thread-safe: every plan creation and destruction happens under this lock.
std::mutex& planner_lock() {
  static std::mutex m;
  return m;
}

struct Settings {
  unsigned flags = FFTW_ESTIMATE;
  int threads = 1;
  bool threads_ready = false;
  bool wisdom_only = false;
};

unsigned effort_flags(Effort effort) {
  return effort == Effort::estimate  ? FFTW_ESTIMATE
         : effort == Effort::measure ? FFTW_MEASURE
                                     : FFTW_PATIENT;
}

Settings& settings() {
  static Settings s;
  return s;
}

struct CountEntry {
  std::size_t count = 0;
  double seconds = 0.0;
};
std::mutex& count_lock() {
  static std::mutex m;
  return m;
}
std::map<std::string, CountEntry>& counts() {
  static std::map<std::string, CountEntry> c;
  return c;
}

std::string shape_text(const char* kind, const std::vector<std::size_t>& dims,
                       std::size_t howmany) {
  std::string s = kind;
  s += ' ';
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  if (howmany > 1) s += " (batch " + std::to_string(howmany) + ")";
  return s;
}

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t p = 1;
  for (auto d : dims) p *= d;
  return p;
}

std::vector<int> int_dims(const std::vector<std::size_t>& dims) {
  if (dims.empty() || dims.size() > 3) throw InternalError("FFT of 1 to 3 dimensions only");
  std::vector<int> n;
  for (auto d : dims) {
    if (d == 0 || d > (1u << 30)) throw InternalError("FFT dimension out of range");
    n.push_back(static_cast<int>(d));
  }
  return n;
}

void ensure_threads() {
  auto& s = settings();
  if (!s.threads_ready) {
    if (fftw_init_threads() == 0) throw InternalError("fftw_init_threads failed");
    s.threads_ready = true;
  }
  fftw_plan_with_nthreads(s.threads);
}

// One plan by `make(flags)` under the settings: from wisdom only (any rigor) with FFTW's estimate
// where there is none, or with the configured effort.
template <class Make>
fftw_plan make_plan(const Make& make) {
  const Settings& s = settings();
  if (!s.wisdom_only) return make(s.flags);
  fftw_plan p = make(FFTW_ESTIMATE | FFTW_WISDOM_ONLY);
  return p != nullptr ? p : make(FFTW_ESTIMATE);
}

// Aligned scratch owned by FFTW's allocator.
struct FftwBuffer {
  void* p = nullptr;
  explicit FftwBuffer(std::size_t bytes) : p(fftw_malloc(bytes > 0 ? bytes : 16)) {
    if (p == nullptr) throw std::bad_alloc();
  }
  ~FftwBuffer() { fftw_free(p); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
};

}  // namespace

// One fftw_plan with what is needed to execute it on new arrays safely.
class PlanHandle {
 public:
  enum class Kind { r2c, c2r, c2c };
  PlanHandle(fftw_plan plan, Kind kind, std::string label, std::size_t in_bytes,
             std::size_t out_bytes, int alignment)
      : plan_(plan),
        kind_(kind),
        label_(std::move(label)),
        in_bytes_(in_bytes),
        out_bytes_(out_bytes),
        alignment_(alignment) {
    if (plan_ == nullptr) throw InternalError("FFTW could not create a plan for " + label_);
  }
  ~PlanHandle() {
    std::lock_guard<std::mutex> lock(planner_lock());
    fftw_destroy_plan(plan_);
  }
  PlanHandle(const PlanHandle&) = delete;
  PlanHandle& operator=(const PlanHandle&) = delete;

  std::string text() const {
    std::lock_guard<std::mutex> lock(planner_lock());
    char* text = fftw_sprint_plan(plan_);
    if (text == nullptr) return {};
    std::string out(text);
    free(text);  // NOLINT: fftw_sprint_plan's string comes from malloc
    return out;
  }

  void execute(const void* in, void* out) const {
    const auto start = std::chrono::steady_clock::now();
    const bool aligned =
        fftw_alignment_of(const_cast<double*>(static_cast<const double*>(in))) == alignment_ &&
        fftw_alignment_of(static_cast<double*>(out)) == alignment_;
    if (aligned) {
      run(const_cast<void*>(in), out);
    } else {
      // New-array execution needs the planning alignment; go through aligned scratch otherwise.
      FftwBuffer a(in_bytes_), b(out_bytes_);
      std::memcpy(a.p, in, in_bytes_);
      run(a.p, in == out ? a.p : b.p);
      std::memcpy(out, in == out ? a.p : b.p, out_bytes_);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::lock_guard<std::mutex> lock(count_lock());
    auto& entry = counts()[label_];
    ++entry.count;
    entry.seconds += seconds;
  }

 private:
  void run(void* in, void* out) const {
    switch (kind_) {
      case Kind::r2c:
        fftw_execute_dft_r2c(plan_, static_cast<double*>(in), static_cast<fftw_complex*>(out));
        break;
      case Kind::c2r:
        fftw_execute_dft_c2r(plan_, static_cast<fftw_complex*>(in), static_cast<double*>(out));
        break;
      case Kind::c2c:
        fftw_execute_dft(plan_, static_cast<fftw_complex*>(in), static_cast<fftw_complex*>(out));
        break;
    }
  }

  fftw_plan plan_;
  Kind kind_;
  std::string label_;
  std::size_t in_bytes_;
  std::size_t out_bytes_;
  int alignment_;
};

Effort parse_effort(const std::string& text) {
  return parse_choice<Effort>(
      "--fft-effort", text,
      {{"estimate", Effort::estimate}, {"measure", Effort::measure}, {"patient", Effort::patient}});
}

void configure(Effort effort, int threads) {
  std::lock_guard<std::mutex> lock(planner_lock());
  auto& s = settings();
  s.flags = effort_flags(effort);
  s.threads = threads > 0 ? threads : 1;
}

void set_effort(Effort effort) {
  std::lock_guard<std::mutex> lock(planner_lock());
  settings().flags = effort_flags(effort);
}

void forget_wisdom() {
  std::lock_guard<std::mutex> lock(planner_lock());
  fftw_forget_wisdom();
}

void plan_from_wisdom_only(bool on) {
  std::lock_guard<std::mutex> lock(planner_lock());
  settings().wisdom_only = on;
}

std::string wisdom_text() {
  std::lock_guard<std::mutex> lock(planner_lock());
  char* text = fftw_export_wisdom_to_string();
  if (text == nullptr) throw InternalError("FFTW could not export its wisdom");
  std::string out(text);
  fftw_free(text);
  return out;
}

bool import_wisdom_text(const std::string& text) {
  std::lock_guard<std::mutex> lock(planner_lock());
  ensure_threads();
  return fftw_import_wisdom_from_string(text.c_str()) != 0;
}

bool import_wisdom(const std::string& path) {
  std::lock_guard<std::mutex> lock(planner_lock());
  ensure_threads();  // wisdom names the threaded planner's solvers, registered by fftw_init_threads
  return fftw_import_wisdom_from_filename(path.c_str()) != 0;
}

void export_wisdom(const std::string& path) {
  std::lock_guard<std::mutex> lock(planner_lock());
  if (fftw_export_wisdom_to_filename(path.c_str()) == 0)
    throw IoError("could not write FFTW wisdom to " + path);
}

std::vector<TransformCount> transform_counts() {
  std::lock_guard<std::mutex> lock(count_lock());
  std::vector<TransformCount> out;
  for (const auto& [shape, entry] : counts()) out.push_back({shape, entry.count, entry.seconds});
  return out;
}

void reset_transform_counts() {
  std::lock_guard<std::mutex> lock(count_lock());
  counts().clear();
}

RealTransform::RealTransform(std::vector<std::size_t> dims, std::size_t howmany)
    : dims_(std::move(dims)), howmany_(howmany) {
  const auto n = int_dims(dims_);
  if (howmany_ == 0) throw InternalError("FFT batch of zero arrays");
  real_size_ = product(dims_);
  complex_size_ = real_size_ / dims_.back() * (dims_.back() / 2 + 1);
  const std::size_t real_bytes = real_size_ * howmany_ * sizeof(double);
  const std::size_t complex_bytes = complex_size_ * howmany_ * sizeof(fftw_complex);
  FftwBuffer real(real_bytes), spectral(complex_bytes);
  std::lock_guard<std::mutex> lock(planner_lock());
  ensure_threads();
  const int rank = static_cast<int>(n.size());
  const int h = static_cast<int>(howmany_);
  const int rdist = static_cast<int>(real_size_), cdist = static_cast<int>(complex_size_);
  fftw_plan f = make_plan([&](unsigned flags) {
    return fftw_plan_many_dft_r2c(rank, n.data(), h, static_cast<double*>(real.p), nullptr, 1,
                                  rdist, static_cast<fftw_complex*>(spectral.p), nullptr, 1, cdist,
                                  flags);
  });
  fftw_plan b = make_plan([&](unsigned flags) {
    return fftw_plan_many_dft_c2r(rank, n.data(), h, static_cast<fftw_complex*>(spectral.p),
                                  nullptr, 1, cdist, static_cast<double*>(real.p), nullptr, 1,
                                  rdist, flags);
  });
  const int alignment = fftw_alignment_of(static_cast<double*>(real.p));
  forward_ =
      std::make_unique<PlanHandle>(f, PlanHandle::Kind::r2c, shape_text("r2c", dims_, howmany_),
                                   real_bytes, complex_bytes, alignment);
  backward_ =
      std::make_unique<PlanHandle>(b, PlanHandle::Kind::c2r, shape_text("c2r", dims_, howmany_),
                                   complex_bytes, real_bytes, alignment);
}

RealTransform::~RealTransform() = default;
RealTransform::RealTransform(RealTransform&&) noexcept = default;
RealTransform& RealTransform::operator=(RealTransform&&) noexcept = default;

std::vector<std::size_t> RealTransform::complex_dims() const {
  auto c = dims_;
  c.back() = c.back() / 2 + 1;
  return c;
}

void RealTransform::forward(const double* in, complex* out) const {
  forward_->execute(in, out);
}

void RealTransform::backward(const complex* in, double* out) const {
  // c2r overwrites its input; work on a copy so the caller's spectrum survives.
  FftwBuffer copy(complex_size_ * howmany_ * sizeof(fftw_complex));
  std::memcpy(copy.p, in, complex_size_ * howmany_ * sizeof(fftw_complex));
  backward_->execute(copy.p, out);
}

void RealTransform::backward_destroying(complex* in, double* out) const {
  backward_->execute(in, out);
}

std::string RealTransform::plan_text() const {
  return forward_->text();
}

ComplexTransform::ComplexTransform(std::vector<std::size_t> dims, std::size_t howmany)
    : dims_(std::move(dims)), howmany_(howmany) {
  const auto n = int_dims(dims_);
  if (howmany_ == 0) throw InternalError("FFT batch of zero arrays");
  size_ = product(dims_);
  const std::size_t bytes = size_ * howmany_ * sizeof(fftw_complex);
  FftwBuffer a(bytes), b(bytes);
  auto* pa = static_cast<fftw_complex*>(a.p);
  auto* pb = static_cast<fftw_complex*>(b.p);
  std::lock_guard<std::mutex> lock(planner_lock());
  ensure_threads();
  const int rank = static_cast<int>(n.size());
  const int h = static_cast<int>(howmany_);
  const int dist = static_cast<int>(size_);
  auto plan = [&](fftw_complex* in, fftw_complex* out, int sign) {
    return make_plan([&](unsigned flags) {
      return fftw_plan_many_dft(rank, n.data(), h, in, nullptr, 1, dist, out, nullptr, 1, dist,
                                sign, flags);
    });
  };
  const int alignment = fftw_alignment_of(reinterpret_cast<double*>(pa));
  using K = PlanHandle::Kind;
  forward_ =
      std::make_unique<PlanHandle>(plan(pa, pb, FFTW_FORWARD), K::c2c,
                                   shape_text("c2c", dims_, howmany_), bytes, bytes, alignment);
  backward_ =
      std::make_unique<PlanHandle>(plan(pa, pb, FFTW_BACKWARD), K::c2c,
                                   shape_text("c2c", dims_, howmany_), bytes, bytes, alignment);
  forward_inplace_ =
      std::make_unique<PlanHandle>(plan(pa, pa, FFTW_FORWARD), K::c2c,
                                   shape_text("c2c", dims_, howmany_), bytes, bytes, alignment);
  backward_inplace_ =
      std::make_unique<PlanHandle>(plan(pa, pa, FFTW_BACKWARD), K::c2c,
                                   shape_text("c2c", dims_, howmany_), bytes, bytes, alignment);
}

ComplexTransform::~ComplexTransform() = default;
ComplexTransform::ComplexTransform(ComplexTransform&&) noexcept = default;
ComplexTransform& ComplexTransform::operator=(ComplexTransform&&) noexcept = default;

void ComplexTransform::forward(const complex* in, complex* out) const {
  (in == out ? forward_inplace_ : forward_)->execute(in, out);
}

void ComplexTransform::backward(const complex* in, complex* out) const {
  (in == out ? backward_inplace_ : backward_)->execute(in, out);
}

namespace {

// |k|^2 (grid units) of each r2c coefficient of a grid of `dims`, in storage order.
std::vector<double> squared_wavenumbers(const std::vector<std::size_t>& dims) {
  std::size_t size = 1;
  for (std::size_t a = 0; a + 1 < dims.size(); ++a) size *= dims[a];
  const std::size_t last = dims.back() / 2 + 1;
  size *= last;
  std::vector<double> k2(size, 0.0);
  for (std::size_t m = 0; m < size; ++m) {
    std::size_t rest = m;
    for (std::size_t a = dims.size(); a-- > 0;) {
      const std::size_t extent = a + 1 == dims.size() ? last : dims[a];
      const double f = static_cast<double>(frequency(rest % extent, dims[a]));
      rest /= extent;
      k2[m] += f * f;
    }
  }
  return k2;
}

// |k|^2 is an integer, so |k| never falls on a half-integer shell boundary.
std::size_t shell_of(double k2) {
  return static_cast<std::size_t>(std::llround(std::sqrt(k2)));
}

}  // namespace

std::vector<std::size_t> shell_of_modes(const std::vector<std::size_t>& dims) {
  const std::vector<double> k2 = squared_wavenumbers(dims);
  std::vector<std::size_t> shells(k2.size());
  for (std::size_t m = 0; m < k2.size(); ++m) shells[m] = shell_of(k2[m]);
  return shells;
}

SpectralShells::SpectralShells(std::vector<std::size_t> dims) : dims_(std::move(dims)) {
  const std::vector<double> k2 = squared_wavenumbers(dims_);
  const std::size_t last = dims_.back(), half = last / 2 + 1;
  shell_.resize(k2.size());
  weight_.resize(k2.size());
  std::size_t count = 0;
  for (std::size_t m = 0; m < k2.size(); ++m) {
    shell_[m] = shell_of(k2[m]);
    count = std::max(count, shell_[m] + 1);
    const std::size_t k_last = m % half;
    weight_[m] = k_last == 0 || 2 * k_last == last ? 1.0 : 2.0;
  }
  modes_.assign(count, 0.0);
  wavenumber_.assign(count, 0.0);
  wavenumber_squared_.assign(count, 0.0);
  for (std::size_t m = 0; m < k2.size(); ++m) {
    modes_[shell_[m]] += weight_[m];
    wavenumber_[shell_[m]] += weight_[m] * std::sqrt(k2[m]);
    wavenumber_squared_[shell_[m]] += weight_[m] * k2[m];
  }
  // Every shell up to the corner of the grid holds modes (|k| grows by less than 1 between
  // neighbouring grid points), so none is empty.
  for (std::size_t s = 0; s < count; ++s) {
    ensure(modes_[s] > 0.0, "empty spectral shell");
    wavenumber_[s] /= modes_[s];
    wavenumber_squared_[s] /= modes_[s];
  }
}

}  // namespace ksi::fft

#include "ksi/core/lbfgs.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "ksi/core/aligned.hpp"
#include "ksi/core/error.hpp"

namespace ksi {
namespace {

double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

bool all_finite(std::span<const double> v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

/// A point of the line search: step a, value f(x0 + a p) and slope grad f . p there.
struct Point {
  double a = 0.0, f = 0.0, d = 0.0;
};

/// The minimiser of the cubic through (a, fa) and (b, fb) with slopes da, db (Nocedal and Wright
/// eq. 3.59); NaN when the cubic has none.
double cubic_minimizer(const Point& p, const Point& q) {
  const double d1 = p.d + q.d - 3.0 * (p.f - q.f) / (p.a - q.a);
  const double discriminant = d1 * d1 - p.d * q.d;
  if (!(discriminant >= 0.0)) return std::nan("");
  const double d2 = std::copysign(std::sqrt(discriminant), q.a - p.a);
  const double denominator = q.d - p.d + 2.0 * d2;
  if (denominator == 0.0) return std::nan("");
  return q.a - (q.a - p.a) * (q.d + d2 - d1) / denominator;
}

/// The strong-Wolfe line search along p from x0 (Nocedal and Wright, Algorithms 3.5 and 3.6). On
/// acceptance `x_out` and `g_out` hold the accepted point. Invariant: whenever the bracket's low
/// end has a > 0, x_out and g_out hold it.
class LineSearch {
 public:
  LineSearch(const ValueAndGradient& f, const LbfgsOptions& options, std::size_t n)
      : x_out(n), g_out(n), f_(f), options_(options), x_work_(n), g_work_(n) {}

  struct Outcome {
    bool accepted = false;
    Point point;
  };

  Outcome run(std::span<const double> x0, double f0, std::span<const double> p, double d0,
              double a_init) {
    x0_ = x0;
    p_ = p;
    start_ = Point{0.0, f0, d0};
    evaluations_ = 0;
    Point previous = start_;
    double a = a_init;
    for (;;) {
      const Point current = evaluate(a);
      if (!sufficient(current) || (evaluations_ > 1 && current.f >= previous.f))
        return zoom(previous, current);
      if (curvature(current)) return accept(current);
      if (current.d >= 0.0) {
        keep_work_as_low();
        return zoom(current, previous);
      }
      keep_work_as_low();
      if (evaluations_ >= options_.max_evaluations_per_search) return Outcome{true, current};
      // Extrapolate: the cubic's minimiser, kept within [1.1, 4] times the last increment.
      const double increment = current.a - previous.a;
      const double low = current.a + 1.1 * increment, high = current.a + 4.0 * increment;
      const double trial = cubic_minimizer(previous, current);
      a = std::isfinite(trial) && trial > low ? std::min(trial, high) : high;
      previous = current;
    }
  }

  std::size_t evaluations() const noexcept { return evaluations_; }

  // Cache-line aligned, as the FFTs inside f want their inputs.
  AlignedVector<double> x_out, g_out;

 private:
  Point evaluate(double a) {
    for (std::size_t i = 0; i < x_work_.size(); ++i) x_work_[i] = x0_[i] + a * p_[i];
    double value = f_(x_work_, g_work_);
    ++evaluations_;
    double slope = dot(g_work_, p_);
    // A non-finite value or slope marks a step too long: it ends a bracket and is never accepted.
    if (!std::isfinite(value) || !std::isfinite(slope)) {
      value = std::numeric_limits<double>::infinity();
      slope = std::nan("");
    }
    return Point{a, value, slope};
  }

  bool sufficient(const Point& q) const {
    return q.f <= start_.f + options_.sufficient_decrease * q.a * start_.d;
  }
  bool curvature(const Point& q) const { return std::abs(q.d) <= -options_.curvature * start_.d; }

  void keep_work_as_low() {
    std::swap(x_work_, x_out);
    std::swap(g_work_, g_out);
  }

  Outcome accept(const Point& q) {
    keep_work_as_low();
    return Outcome{true, q};
  }

  Outcome zoom(Point low, Point high) {
    while (evaluations_ < options_.max_evaluations_per_search) {
      const double width = high.a - low.a;
      if (std::abs(width) <= 4.0 * std::numeric_limits<double>::epsilon() *
                                 std::max(std::abs(low.a), std::abs(high.a)))
        break;
      // The cubic's minimiser if it lies in the middle 80% of the bracket, else the midpoint.
      double a = std::isfinite(high.f) ? cubic_minimizer(low, high) : std::nan("");
      const double lo = std::min(low.a, high.a) + 0.1 * std::abs(width);
      const double hi = std::max(low.a, high.a) - 0.1 * std::abs(width);
      if (!(a >= lo && a <= hi)) a = low.a + 0.5 * width;
      const Point current = evaluate(a);
      if (!sufficient(current) || current.f >= low.f) {
        high = current;
        continue;
      }
      if (curvature(current)) return accept(current);
      if (current.d * (high.a - low.a) >= 0.0) high = low;
      low = current;
      keep_work_as_low();
    }
    // Out of evaluations (or the bracket collapsed): the low end satisfies the sufficient
    // decrease, so it is a descent step, if it is not the start.
    if (low.a > 0.0) return Outcome{true, low};
    return Outcome{false, start_};
  }

  const ValueAndGradient& f_;
  const LbfgsOptions& options_;
  AlignedVector<double> x_work_, g_work_;
  std::span<const double> x0_, p_;
  Point start_;
  std::size_t evaluations_ = 0;
};

/// The m most recent correction pairs and the two-loop recursion (Nocedal and Wright, Alg. 7.4).
class History {
 public:
  History(std::size_t capacity, std::size_t n) : capacity_(capacity), n_(n) {}

  std::size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }

  /// Stores s = x_new - x, y = g_new - g unless the curvature s . y is not positive (then the
  /// inverse-Hessian estimate would lose positive definiteness); returns whether it was stored.
  bool push(std::span<const double> x, std::span<const double> x_new, std::span<const double> g,
            std::span<const double> g_new) {
    if (s_.size() < capacity_) {
      s_.emplace_back(n_);
      y_.emplace_back(n_);
      rho_.push_back(0.0);
    }
    const std::size_t slot = (head_ + size_) % capacity_;
    auto& s = s_[slot];
    auto& y = y_[slot];
    for (std::size_t i = 0; i < n_; ++i) {
      s[i] = x_new[i] - x[i];
      y[i] = g_new[i] - g[i];
    }
    const double sy = dot(s, y), yy = dot(y, y);
    if (!(sy > std::numeric_limits<double>::epsilon() * yy)) return false;
    rho_[slot] = 1.0 / sy;
    if (size_ < capacity_) {
      ++size_;
    } else {
      head_ = (head_ + 1) % capacity_;
    }
    return true;
  }

  /// p = -H g with H the L-BFGS inverse-Hessian estimate, H0 = (s . y / y . y) I of the newest
  /// pair.
  void direction(std::span<const double> g, std::span<double> p) {
    alpha_.resize(capacity_);
    for (std::size_t i = 0; i < n_; ++i) p[i] = -g[i];
    for (std::size_t k = size_; k-- > 0;) {
      const std::size_t slot = (head_ + k) % capacity_;
      alpha_[slot] = rho_[slot] * dot(s_[slot], p);
      const auto& y = y_[slot];
      for (std::size_t i = 0; i < n_; ++i) p[i] -= alpha_[slot] * y[i];
    }
    if (size_ > 0) {
      const std::size_t newest = (head_ + size_ - 1) % capacity_;
      const double gamma = 1.0 / (rho_[newest] * dot(y_[newest], y_[newest]));
      for (auto& v : p) v *= gamma;
    }
    for (std::size_t k = 0; k < size_; ++k) {
      const std::size_t slot = (head_ + k) % capacity_;
      const double beta = rho_[slot] * dot(y_[slot], p);
      const auto& s = s_[slot];
      for (std::size_t i = 0; i < n_; ++i) p[i] += s[i] * (alpha_[slot] - beta);
    }
  }

 private:
  std::size_t capacity_, n_;
  std::size_t head_ = 0, size_ = 0;
  std::vector<std::vector<double>> s_, y_;
  std::vector<double> rho_, alpha_;
};

}  // namespace

void LbfgsOptions::validate() const {
  if (history < 1) throw UsageError("L-BFGS history must be at least 1");
  if (max_iterations < 1) throw UsageError("L-BFGS max_iterations must be at least 1");
  if (max_evaluations_per_search < 1)
    throw UsageError("L-BFGS max_evaluations_per_search must be at least 1");
  if (!(sufficient_decrease > 0.0 && sufficient_decrease < curvature && curvature < 1.0))
    throw UsageError("L-BFGS line search constants need 0 < sufficient_decrease < curvature < 1");
  if (!(gradient_tolerance >= 0.0)) throw UsageError("L-BFGS gradient_tolerance must be >= 0");
  if (std::isnan(value_target)) throw UsageError("L-BFGS value_target is NaN");
}

std::string to_string(LbfgsStatus status) {
  switch (status) {
    case LbfgsStatus::value_reached:
      return "value reached";
    case LbfgsStatus::gradient_small:
      return "gradient small";
    case LbfgsStatus::max_iterations:
      return "iteration limit";
    case LbfgsStatus::line_search_failed:
      return "line search failed";
  }
  return "?";
}

LbfgsResult minimize_lbfgs(const ValueAndGradient& f, std::span<double> x,
                           const LbfgsOptions& options, const LbfgsObserver& observe) {
  options.validate();
  const std::size_t n = x.size();
  AlignedVector<double> g(n), p(n);
  LbfgsResult result;
  result.value = f(x, g);
  result.evaluations = 1;
  if (!std::isfinite(result.value) || !all_finite(g))
    throw NumericalError(
        "L-BFGS: the function or its gradient is not finite at the starting point");
  result.gradient_norm = std::sqrt(dot(g, g));
  if (observe) observe(LbfgsIteration{0, result.value, result.gradient_norm, 0.0, 1});

  History history(options.history, n);
  LineSearch search(f, options, n);
  for (;;) {
    if (result.value <= options.value_target) {
      result.status = LbfgsStatus::value_reached;
      break;
    }
    if (result.gradient_norm <= options.gradient_tolerance) {
      result.status = LbfgsStatus::gradient_small;
      break;
    }
    if (result.iterations >= options.max_iterations) {
      result.status = LbfgsStatus::max_iterations;
      break;
    }
    history.direction(g, p);
    double slope = dot(g, p);
    if (!(slope < 0.0)) {  // rounding made the quasi-Newton direction useless: start afresh
      history.clear();
      history.direction(g, p);
      slope = dot(g, p);
    }
    // Steepest descent tries a unit-length step first; a quasi-Newton step its natural length 1.
    double a_init = history.size() > 0 ? 1.0 : 1.0 / result.gradient_norm;
    auto outcome = search.run(x, result.value, p, slope, a_init);
    result.evaluations += search.evaluations();
    if (!outcome.accepted && history.size() > 0) {
      // The curvature pairs may be stale: one more try along steepest descent.
      history.clear();
      history.direction(g, p);
      slope = dot(g, p);
      a_init = 1.0 / result.gradient_norm;
      outcome = search.run(x, result.value, p, slope, a_init);
      result.evaluations += search.evaluations();
    }
    if (!outcome.accepted) {
      result.status = LbfgsStatus::line_search_failed;
      break;
    }
    history.push(x, search.x_out, g, search.g_out);
    std::copy(search.x_out.begin(), search.x_out.end(), x.begin());
    std::copy(search.g_out.begin(), search.g_out.end(), g.begin());
    result.value = outcome.point.f;
    result.gradient_norm = std::sqrt(dot(g, g));
    ++result.iterations;
    if (observe)
      observe(LbfgsIteration{result.iterations, result.value, result.gradient_norm, outcome.point.a,
                             result.evaluations});
  }
  return result;
}

}  // namespace ksi

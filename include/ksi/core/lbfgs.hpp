#pragma once
/// @file
/// A limited-memory BFGS minimiser (Nocedal and Wright, Numerical Optimization, 2nd ed.: the
/// two-loop recursion, Algorithm 7.4, and the strong-Wolfe line search with the zoom stage,
/// Algorithms 3.5 and 3.6, trial steps by safeguarded cubic interpolation). Every accepted step
/// satisfies the sufficient-decrease condition, so the values of the accepted iterates decrease
/// strictly. Serial and deterministic: the same inputs give the same bits.

#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <string>

namespace ksi {

/// f(x); writes grad f(x) into `gradient` (same size as x).
using ValueAndGradient =
    std::function<double(std::span<const double> x, std::span<double> gradient)>;

struct LbfgsOptions {
  std::size_t history = 10;          ///< correction pairs (s, y) kept, m
  std::size_t max_iterations = 500;  ///< accepted steps at most
  /// Stop once f(x) <= value_target (-inf: never; e.g. the loss of an acceptable fit).
  double value_target = -std::numeric_limits<double>::infinity();
  double gradient_tolerance = 0.0;    ///< stop once |grad f|_2 <= this (0: only a zero gradient)
  double sufficient_decrease = 1e-4;  ///< Wolfe c1: f(x + a d) <= f(x) + c1 a grad f . d
  double curvature = 0.9;             ///< Wolfe c2: |grad f(x + a d) . d| <= c2 |grad f(x) . d|
  std::size_t max_evaluations_per_search = 20;  ///< evaluations of f in one line search at most

  /// UsageError naming the first field out of range (history, max_iterations and
  /// max_evaluations_per_search >= 1, 0 < c1 < c2 < 1, gradient_tolerance >= 0).
  void validate() const;
};

/// Why the minimiser stopped.
enum class LbfgsStatus {
  value_reached,       ///< f(x) <= value_target
  gradient_small,      ///< |grad f| <= gradient_tolerance
  max_iterations,      ///< max_iterations steps taken
  line_search_failed,  ///< no step along steepest descent decreased f (at the limit of precision)
};
std::string to_string(LbfgsStatus status);

/// One accepted iterate (iteration 0: the starting point), for logs and tests.
struct LbfgsIteration {
  std::size_t iteration = 0;
  double value = 0.0;
  double gradient_norm = 0.0;   ///< |grad f|_2
  double step = 0.0;            ///< accepted step length a along the search direction (0 at start)
  std::size_t evaluations = 0;  ///< evaluations of f so far
};
using LbfgsObserver = std::function<void(const LbfgsIteration&)>;

struct LbfgsResult {
  LbfgsStatus status = LbfgsStatus::max_iterations;
  double value = 0.0;           ///< f at the returned x
  double gradient_norm = 0.0;   ///< |grad f|_2 at the returned x
  std::size_t iterations = 0;   ///< accepted steps
  std::size_t evaluations = 0;  ///< calls of f
};

/// Minimises f from x (in place: x ends at the last accepted iterate). `observe` (optional) sees
/// the starting point and every accepted iterate. NumericalError if f or its gradient is not
/// finite at the starting point; non-finite values at trial points only shorten the step.
LbfgsResult minimize_lbfgs(const ValueAndGradient& f, std::span<double> x,
                           const LbfgsOptions& options, const LbfgsObserver& observe = {});

}  // namespace ksi

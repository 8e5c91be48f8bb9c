#pragma once
// Williamson's (1980) three-stage, third-order, two-register Runge-Kutta scheme, as used by the
// pseudo-spectral solvers. For dy/dt = G(t, y), stage s:
//     dy <- A[s] dy + dt G(t + C[s] dt, y),   y <- y + B[s] dy.
// With an integrating factor the solvers advance v = exp(-L (t - t_n)) u, so the stage values of u
// are exp(L C[s] dt) v.

namespace ksi::synth::detail {

inline constexpr int kRkStages = 3;
inline constexpr double kRkA[kRkStages] = {0.0, -5.0 / 9.0, -153.0 / 128.0};
inline constexpr double kRkB[kRkStages] = {1.0 / 3.0, 15.0 / 16.0, 8.0 / 15.0};
inline constexpr double kRkC[kRkStages] = {0.0, 1.0 / 3.0, 3.0 / 4.0};

}  // namespace ksi::synth::detail

#pragma once
/// @file
/// Threads per rank for BLAS. ksi runs one rank per core by default (threads = 1), as Slurm jobs
/// do.

namespace ksi {
/// Sets the number of BLAS threads of this process (OpenBLAS).
void set_blas_threads(int threads);
}  // namespace ksi

#pragma once
// libksi-internal: the MPI_Comm behind a par::Comm, for rooms that hand it to PETSc, HDF5 or FFTW.
#include <mpi.h>

#include "ksi/par/comm.hpp"

namespace ksi::par {
/// Comm keeps its MPI_Comm on the heap so the public header needs no MPI type (portable across
/// MPIs).
inline MPI_Comm native(const Comm& comm) {
  return *static_cast<MPI_Comm*>(comm.native_handle());
}
}  // namespace ksi::par

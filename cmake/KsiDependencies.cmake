# Every dependency becomes an imported target; nothing below uses raw include or library variables.
find_package(PkgConfig REQUIRED)

find_package(MPI REQUIRED COMPONENTS C CXX)

pkg_check_modules(PETSC REQUIRED IMPORTED_TARGET petsc>=3.18)

pkg_check_modules(FFTW3 REQUIRED IMPORTED_TARGET fftw3)
find_library(FFTW3_THREADS_LIBRARY NAMES fftw3_threads REQUIRED)
find_library(FFTW3_MPI_LIBRARY NAMES fftw3_mpi REQUIRED)
if(NOT TARGET FFTW3::fftw3)
  add_library(FFTW3::fftw3 INTERFACE IMPORTED)
  target_link_libraries(FFTW3::fftw3 INTERFACE ${FFTW3_THREADS_LIBRARY} ${FFTW3_MPI_LIBRARY}
                        PkgConfig::FFTW3 MPI::MPI_C)
endif()

# Debian installs the Open MPI build of HDF5 under its own pkg-config name.
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5-openmpi)
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES ${HDF5_INCLUDE_DIRS})
check_symbol_exists(H5_HAVE_PARALLEL "H5pubconf.h" KSI_HDF5_IS_PARALLEL)
unset(CMAKE_REQUIRED_INCLUDES)
if(NOT KSI_HDF5_IS_PARALLEL)
  message(FATAL_ERROR "ksi needs a parallel HDF5 (Debian: libhdf5-openmpi-dev)")
endif()

pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)

find_package(Boost 1.71 REQUIRED COMPONENTS program_options)

find_path(RANDOM123_INCLUDE_DIR NAMES Random123/philox.h REQUIRED)
if(NOT TARGET Random123::Random123)
  add_library(Random123::Random123 INTERFACE IMPORTED)
  target_include_directories(Random123::Random123 SYSTEM INTERFACE ${RANDOM123_INCLUDE_DIR})
endif()

find_package(Threads REQUIRED)

if(KSI_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

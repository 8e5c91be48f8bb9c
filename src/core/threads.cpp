#include "ksi/core/threads.hpp"

#include <cblas.h>

namespace ksi {
void set_blas_threads(int threads) {
  openblas_set_num_threads(threads > 0 ? threads : 1);
}
}  // namespace ksi

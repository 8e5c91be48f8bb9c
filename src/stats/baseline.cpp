#include "ksi/stats/baseline.hpp"

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/synth/vectors.hpp"

namespace ksi::stats {

GaussianFieldBaseline::GaussianFieldBaseline(const ItemShape& shape, double box_size,
                                             std::vector<double> shell_power, double mean)
    : spectrum_(shape.dims(), box_size), shell_power_(std::move(shell_power)), mean_(mean) {
  ensure(shape.is_grid(), "a field baseline needs a grid shape");
  ensure(shell_power_.size() == spectrum_.shells(),
         "baseline spectrum has the wrong number of shells");
}

Matrix GaussianFieldBaseline::draw(std::uint64_t seed, std::size_t first, std::size_t count) const {
  Matrix out(count, spectrum_.field_size());
  for (std::size_t i = 0; i < count; ++i) {
    RandomStream stream(seed, StreamPurpose::baseline, first + i);
    auto field = out.row(i);
    stream.fill_normal(field);
    spectrum_.impose(field, shell_power_, mean_);
  }
  return out;
}

GaussianVectorBaseline::GaussianVectorBaseline(std::vector<double> mean, const Matrix& covariance)
    : mean_(std::move(mean)) {
  const std::size_t d = mean_.size();
  ensure(covariance.rows() == d && covariance.cols() == d, "baseline covariance size");
  double trace = 0.0;
  for (std::size_t i = 0; i < d; ++i) trace += covariance(i, i);
  Matrix jittered = covariance;
  for (std::size_t i = 0; i < d; ++i) jittered(i, i) += 1e-12 * trace / static_cast<double>(d);
  try {
    factor_ = synth::cholesky(jittered);
  } catch (const InputError&) {
    throw NumericalError(
        "the training data's covariance is not positive semi-definite; no Gaussian baseline");
  }
}

Matrix GaussianVectorBaseline::draw(std::uint64_t seed, std::size_t first,
                                    std::size_t count) const {
  return synth::draw_correlated_normal(mean_, factor_, seed, StreamPurpose::baseline, first, count);
}

}  // namespace ksi::stats

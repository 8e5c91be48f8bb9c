#include "ksi/sample/fft_plans.hpp"

#include <filesystem>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/log.hpp"

namespace ksi::sample {

void prepare_fft_plans(const std::string& model_path, const FftPlanOptions& options,
                       const par::Comm& comm) {
  if (options.effort == fft::Effort::estimate && options.wisdom.empty()) return;
  ScopedPhase phase("sample.fft_plans");
  const Stopwatch clock;
  std::string text;
  par::collective(comm, [&] {
    if (!comm.is_root()) return;
    const bool have_file = !options.wisdom.empty() && std::filesystem::exists(options.wisdom);
    if (have_file && !fft::import_wisdom(options.wisdom))
      throw InputError("FFT wisdom file " + options.wisdom + " is not FFTW wisdom");
    if (options.effort != fft::Effort::estimate) {
      // The plans of every map the model uses, made with the effort: its maps are built as it is
      // read, and one drift evaluation makes the plans made on first use.
      fft::set_effort(options.effort);
      const Model model = Model::read(model_path, par::Comm::self());
      Matrix X(1, model.shape().size()), B;
      RandomStream stream(0, StreamPurpose::sample_noise, 0);  // a probe field
      stream.fill_normal(X.values());
      model.drift(0.5, X, B);
      fft::set_effort(fft::Effort::estimate);
    }
    text = fft::wisdom_text();
    // Only measured plans are worth keeping: with the estimate effort a missing file stays missing.
    if (!options.wisdom.empty() && !have_file && options.effort != fft::Effort::estimate)
      fft::export_wisdom(options.wisdom);
  });
  comm.bcast(text, 0);
  if (!comm.is_root() && !fft::import_wisdom_text(text))
    throw par::CollectiveError(ExitCode::internal, "rank 0's FFT wisdom could not be read", 0);
  fft::plan_from_wisdom_only(true);
  par::Log::info(sformat("sample: FFT plans %s on rank 0 and shared (%.1f s)",
                         options.effort == fft::Effort::estimate ? "read from wisdom" : "measured",
                         clock.seconds()));
}

}  // namespace ksi::sample

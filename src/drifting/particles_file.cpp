#include "ksi/drifting/particles_file.hpp"

#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/io/output.hpp"

namespace ksi::drifting {

void write_particles(const ParticlesFile& file, const DriftOptions& options,
                     const DriftResult& result, const par::Comm& comm) {
  ScopedPhase phase("drift.io");
  const auto& diagnostics = result.diagnostics;
  const bool tested = !file.test_path.empty();
  io::OutputFile out(file.path, file.force, file.inputs, comm);
  io::write_items(out, file.shape, result.total, result.range.begin, result.particles, file.dtype,
                  file.box_size);
  {
    const io::Group root = out.root();
    io::write_provenance(root, "ksi drift");
    root.set_attribute("ksi_file_kind", "particles");
    root.set_attribute("data", file.data_path);
    if (tested) root.set_attribute("test", file.test_path);
    root.set_attribute("kernel", to_string(options.kernel));
    root.set_attribute("init", to_string(options.init));
    root.set_attribute("seed", static_cast<std::int64_t>(options.seed));
    root.set_attribute("bandwidth", result.bandwidth);
    root.set_attribute("bandwidth_rule",
                       options.bandwidth > 0.0 ? "fixed" : "c sigma N^(-1/(d+4))");
    root.set_attribute("bandwidth_constant", options.bandwidth_constant);
    root.set_attribute("self_interaction", options.self_interaction ? "true" : "false");
    root.set_attribute("step", options.step);
    root.set_attribute("iterations", static_cast<std::int64_t>(options.iterations));
    root.set_attribute("tolerance", options.tolerance);
    root.set_attribute("updates", static_cast<std::int64_t>(result.updates));
    root.set_attribute("converged", result.converged ? "true" : "false");
    root.set_attribute("tile", static_cast<std::int64_t>(options.tile));
    root.set_attribute("data_items", static_cast<std::int64_t>(file.data_items));
    const io::Group group = root.create_group("diagnostics");
    group.write("residual_velocity", {diagnostics.residual_velocity.size()},
                diagnostics.residual_velocity);
    if (tested) {
      group.write("energy_iterations", {diagnostics.energy_iterations.size()},
                  diagnostics.energy_iterations);
      group.write("energy_distance", {diagnostics.energy_distance.size()},
                  diagnostics.energy_distance);
      group.set_attribute("data_to_test_energy_distance", file.data_energy);
    }
  }
  out.commit();
}

}  // namespace ksi::drifting

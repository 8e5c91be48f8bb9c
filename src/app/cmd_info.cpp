// ksi info FILE: a readable summary of a data set, model or samples file.
#include <algorithm>
#include <cmath>
#include <iostream>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/io/items.hpp"
#include "ksi/model/model.hpp"

namespace ksi::app {
namespace {

void print_attributes(const io::Group& group, const std::string& indent) {
  for (const auto& name : group.attribute_names()) {
    std::string value = group.attribute_as_text(name);
    if (value.size() > 120) value = value.substr(0, 117) + "...";
    std::cout << indent << name << ": " << value << "\n";
  }
}

void describe_items(const io::File& file) {
  const auto info = io::inspect_items(file);
  std::cout << "  items: " << info.count << " x " << info.shape.describe() << " ("
            << io::to_string(info.dtype) << ")\n";
}

void describe_model(const std::string& path, const par::Comm& self) {
  const Model model = Model::read(path, self);
  std::cout << "  model id: " << model.identity() << "\n";
  std::cout << "  items: " << model.shape().describe() << ", standardisation "
            << model.standardization().mode
            << sformat(" (mean %.6g, scale %.6g", model.standardization().mean,
                       model.standardization().scale);
  if (!model.standardization().shell_power.empty())
    std::cout << ", whitened by the power of " << model.standardization().shell_power.size()
              << " shells";
  if (model.shell_gain().rows() > 0)
    std::cout << "; per-shell drift gains for " << model.shell_gain().cols() << " shells";
  const OutputTransform& output = model.output();
  if (!output.gain.empty()) {
    const auto [low, high] = std::minmax_element(output.gain.begin() + 1, output.gain.end());
    std::cout << sformat("; calibrated output gains in [%.3g, %.3g]", *low, *high);
  }
  if (output.spread_components() > 0)
    std::cout << "; output spread of " << output.spread_components() << " components";
  if (!output.map.x.empty()) std::cout << "; output map of " << output.map.x.size() << " entries";
  std::cout << ")\n";
  std::cout << "  features: " << model.features().kind() << ", P = " << model.features().size()
            << "\n";
  const auto spec = model.features().spec();
  for (const auto& [k, v] : spec.params.entries()) std::cout << "    " << k << " = " << v << "\n";
  // The bin families' ranges (in units of the values' rms) and how many of their bins sit at the
  // mass floor (features::kBinMassFloor of the largest): bins where the data put (almost) nothing.
  for (const auto& [key, family] : {std::pair{"marginal_calibration", "marginal"},
                                    std::pair{"conditional_calibration", "conditional"},
                                    std::pair{"contrast_calibration", "contrast"}}) {
    const auto it = spec.arrays.find(key);
    if (it == spec.arrays.end() || it->second.size() < 4) continue;
    const std::vector<double>& c = it->second;
    const double largest = *std::max_element(c.begin() + 3, c.end());
    const auto floored = std::count_if(c.begin() + 3, c.end(), [&](double m) {
      return m <= features::kBinMassFloor * largest * (1.0 + 1e-9);
    });
    std::cout << sformat("    %s bins over z in [%.3g, %.3g]: %zu of %zu at the mass floor\n",
                         family, c[1], c[2], static_cast<std::size_t>(floored), c.size() - 3);
  }
  std::cout << "  schedule: " << model.schedule().name() << ", T = " << model.times().size()
            << " times, eta " << to_string(model.eta_interpolation());
  if (model.eta_interpolation() == EtaInterpolation::ramp)
    std::cout << " (over " << model.eta_ramp_fraction() << " of each interval)";
  std::cout << " between them\n";
  std::cout << "  fit:";
  for (const auto& [k, v] : model.fit_settings().entries()) std::cout << " " << k << "=" << v;
  if (const auto& c = model.calibration())
    std::cout << sformat(
        "\n  output calibration (post-processing): %zu samples of %zu %s steps (%s grid), seed "
        "%llu, pdf %s, spread %s; max |log(P_gen / P_data)| %.3g before, %.3g after",
        c->samples, c->steps, c->integrator.c_str(),
        c->step_grid.empty() ? "uniform" : c->step_grid.c_str(),
        static_cast<unsigned long long>(c->seed), c->pdf ? "on" : "off", c->spread ? "on" : "off",
        c->error_before, c->error_after);
  if (const GuideRecord& g = model.guide_record(); g.passes() > 0) {
    // Each pass's RMS z over the grid times it measured (a sweep pass whose model diverged has
    // none past the divergence: NaN there).
    const Params& s = g.settings;
    std::cout << sformat(
        "\n  guided passes: %zu, %s updates, eta %s, kept pass %lld; RMS z per pass:", g.passes(),
        s.text("update", "full").c_str(), s.text("interpolation", "linear").c_str(),
        static_cast<long long>(s.integer("kept_pass", 0)));
    for (std::size_t p = 0; p < g.passes(); ++p) {
      double sum = 0.0;
      std::size_t k = 0;
      for (; k < g.rms_z.cols() && std::isfinite(g.rms_z(p, k)); ++k)
        sum += g.rms_z(p, k) * g.rms_z(p, k);
      if (k < g.rms_z.cols())
        std::cout << sformat(" diverged(t = %.4f)", model.times()[k > 0 ? k - 1 : 0]);
      else
        std::cout << sformat(" %.3g", std::sqrt(sum / static_cast<double>(k)));
    }
    if (s.text("update", "full") == "sweep") {
      std::cout << " (each the model measured whole";
      if (const double w = s.real("sweep_damping", NAN); std::isfinite(w))
        std::cout << sformat("; last damping %.3g", w);
      std::cout << ")";
    } else
      std::cout << " (each measured while its updates were made)";
  }
  std::cout << "\n  per-time diagnostics (t, R^2, residual, condition estimate):\n";
  const auto& times = model.times();
  const std::size_t T = times.size();
  const std::size_t stride = std::max<std::size_t>(1, T / 12);
  for (std::size_t k = 0; k < T; k += stride) {
    const auto& d = model.diagnostics()[k];
    std::cout << sformat("    t = %.4f  R^2 = %8.5f  residual = %.2e  condition ~ %.3g\n", times[k],
                         d.captured, d.residual,
                         d.lambda_min > 0 ? d.lambda_max / d.lambda_min : INFINITY);
    if (k + stride >= T && k != T - 1) k = T - 1 - stride;
  }
}

}  // namespace

int run_info(const Invocation& call) {
  po::options_description desc("ksi info options");
  add_common_options(desc);
  desc.add_options()("file", po::value<std::vector<std::string>>(), "files to describe");
  po::positional_options_description positional;
  positional.add("file", -1);
  po::variables_map vm;
  if (!parse_options(call, desc, positional, vm, "ksi info FILE [FILE...]")) return 0;
  configure_logging(vm, call.world);
  if (!vm.count("file")) throw UsageError("ksi info: give at least one FILE");
  // One rank reads and prints; the others wait for the verdict.
  const par::Comm self = par::Comm::self();
  par::collective(call.world, [&] {
    if (!call.world.is_root()) return;
    for (const auto& path : vm["file"].as<std::vector<std::string>>()) {
      io::File file = io::File::open(path, self);
      const io::Group root = file.root();
      const std::string kind =
          root.has_attribute("ksi_file_kind") ? root.text_attribute("ksi_file_kind") : "unknown";
      std::cout << path << ": ksi " << kind << " file\n";
      if (kind == "model") {
        describe_model(path, self);
      } else if (root.has(io::kFieldsDataset)) {
        describe_items(file);
      } else {
        throw InputError(cat(path, " is neither a ksi data, samples nor model file"));
      }
      std::cout << "  attributes:\n";
      print_attributes(root, "    ");
      if (root.has("microcanonical")) {
        std::cout << "  microcanonical synthesis:\n";
        print_attributes(root.open_group("microcanonical"), "    ");
      }
      std::cout.flush();
    }
  });
  return 0;
}

}  // namespace ksi::app

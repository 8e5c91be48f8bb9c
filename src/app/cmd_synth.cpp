// ksi synth <generator>: writes a data set (dataset.h5) with items dealt to ranks.
#include <functional>
#include <iostream>

#include "app/commands.hpp"
#include "app/synth_fields.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/synth/vectors.hpp"

namespace ksi::app {
namespace {

struct Generator {
  const char* name;
  const char* summary;
  std::function<void(po::options_description&)> add_options;
  std::function<void(const po::variables_map&, const par::Comm&)> run;
};

void common_synth_options(po::options_description& desc) {
  desc.add_options()("count,n", po::value<std::size_t>()->default_value(1000), "number of items")(
      "seed", po::value<std::uint64_t>()->default_value(1),
      "random seed (item i uses stream (seed, i))")(
      "dtype", po::value<std::string>()->default_value("float64"), "float32 or float64");
}

void write_vectors(const po::variables_map& vm, const par::Comm& world,
                   const std::string& generator, std::size_t count, std::size_t d,
                   const std::function<Matrix(std::size_t, std::size_t)>& draw,
                   const std::function<void(const io::Group&)>& describe) {
  const auto dtype = io::parse_float_dtype(vm["dtype"].as<std::string>());
  io::OutputFile out(vm["out"].as<std::string>(), vm.count("force") > 0, {}, world);
  const auto range = par::block_range(count, world.rank(), world.size());
  Matrix local;
  par::collective(world, [&] { local = draw(range.begin, range.size()); });
  io::write_items(out, ItemShape::vector(d), count, range.begin, local, dtype);
  {
    const io::Group root = out.root();
    io::write_provenance(root, "ksi synth " + generator);
    root.set_attribute("ksi_file_kind", "dataset");
    root.set_attribute("generator", generator);
    root.set_attribute("seed", static_cast<std::int64_t>(vm["seed"].as<std::uint64_t>()));
    describe(root);
  }
  out.commit();
  par::Log::info(cat("synth ", generator, ": wrote ", count, " items of dimension ", d, " to ",
                     vm["out"].as<std::string>()));
}

std::vector<Generator> generators() {
  std::vector<Generator> list;
  list.push_back(
      {"gaussian", "vectors from N(m, S): m and S given, or drawn from --seed",
       [](po::options_description& desc) {
         desc.add_options()("dim,d", po::value<std::size_t>(),
                            "dimension d (m and S drawn from --param-seed)")(
             "mean", po::value<std::string>(), "m as comma-separated values")(
             "covariance", po::value<std::string>(),
             "S as d x d comma-separated values, row by row")(
             "param-seed", po::value<std::uint64_t>()->default_value(7),
             "seed of the drawn m and S");
       },
       [](const po::variables_map& vm, const par::Comm& world) {
         synth::Gaussian g;
         if (vm.count("mean") || vm.count("covariance")) {
           if (!vm.count("mean") || !vm.count("covariance"))
             throw UsageError("give both --mean and --covariance, or --dim to draw them");
           g = synth::make_gaussian(parse_list("mean", vm["mean"].as<std::string>()),
                                    parse_list("covariance", vm["covariance"].as<std::string>()));
         } else {
           if (!vm.count("dim"))
             throw UsageError("ksi synth gaussian needs --dim, or --mean and --covariance");
           g = synth::random_gaussian(vm["dim"].as<std::size_t>(),
                                      vm["param-seed"].as<std::uint64_t>());
         }
         const auto seed = vm["seed"].as<std::uint64_t>();
         const std::size_t d = g.mean.size();
         write_vectors(
             vm, world, "gaussian", item_count(vm), d,
             [&](std::size_t first, std::size_t n) {
               return synth::draw_gaussian(g, seed, first, n);
             },
             [&](const io::Group& root) {
               root.set_attribute("mean", std::span<const double>(g.mean));
               root.set_attribute("covariance", g.covariance.values());
             });
       }});
  list.push_back(
      {"mixture", "vectors from an equal-weight mixture of isotropic Gaussians",
       [](po::options_description& desc) {
         desc.add_options()("dim,d", po::value<std::size_t>()->default_value(2), "dimension d")(
             "components", po::value<std::size_t>()->default_value(8), "number of components")(
             "separation", po::value<double>()->default_value(4.0),
             "radius of the ring of means (2D) or their spread")(
             "width", po::value<double>()->default_value(0.5),
             "standard deviation of each component")("param-seed",
                                                     po::value<std::uint64_t>()->default_value(7),
                                                     "seed of the component means (d != 2)");
       },
       [](const po::variables_map& vm, const par::Comm& world) {
         const auto m =
             synth::make_mixture(vm["dim"].as<std::size_t>(), vm["components"].as<std::size_t>(),
                                 vm["separation"].as<double>(), vm["width"].as<double>(),
                                 vm["param-seed"].as<std::uint64_t>());
         const auto seed = vm["seed"].as<std::uint64_t>();
         const std::size_t d = vm["dim"].as<std::size_t>();
         write_vectors(
             vm, world, "mixture", item_count(vm), d,
             [&](std::size_t first, std::size_t n) {
               return synth::draw_mixture(m, seed, first, n);
             },
             [&](const io::Group& root) {
               std::vector<double> means;
               for (const auto& c : m.components)
                 means.insert(means.end(), c.mean.begin(), c.mean.end());
               root.set_attribute("component_means", std::span<const double>(means));
               root.set_attribute("component_width", vm["width"].as<double>());
             });
       }});
  for (const auto& g : field_generators())
    list.push_back({g.name, g.summary, g.add_options, g.run});
  return list;
}

}  // namespace

int run_synth(const Invocation& call) {
  const auto list = generators();
  std::string names;
  for (const auto& g : list) names += (names.empty() ? "" : ", ") + std::string(g.name);
  // The generator is the first argument, or the `generator` entry of the --config file.
  std::vector<std::string> args = call.args;
  if (!args.empty() && !args[0].empty() && args[0][0] == '-') {
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--config") {
        const std::string generator = config_generator(args[i + 1]);
        if (generator.empty())
          throw UsageError(
              cat("config file ", args[i + 1],
                  " has no 'generator = NAME' line (in [synth] or before any section); "
                  "name the generator first: ksi synth NAME --config ",
                  args[i + 1]));
        args.insert(args.begin(), generator);
        break;
      }
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    if (call.world.is_root()) {
      std::cout << "usage: ksi synth <generator> [options]   (ksi synth <generator> "
                   "--help)\n\ngenerators:\n";
      for (const auto& g : list) std::cout << sformat("  %-12s %s\n", g.name, g.summary);
    }
    return args.empty() ? static_cast<int>(ExitCode::usage) : 0;
  }
  const std::string name = args[0];
  const Generator* generator = nullptr;
  for (const auto& g : list)
    if (name == g.name) generator = &g;
  if (!generator) throw UsageError(cat("unknown generator '", name, "' (known: ", names, ")"));

  po::options_description desc(cat("ksi synth ", name, " options"));
  add_common_options(desc);
  add_output_options(desc, "output data set (HDF5)");
  common_synth_options(desc);
  generator->add_options(desc);
  po::variables_map vm;
  Invocation rest{call.world, "synth " + name, {args.begin() + 1, args.end()}};
  if (!parse_options(rest, desc, {}, vm, cat("ksi synth ", name, " --out FILE [options]")))
    return 0;
  configure_logging(vm, call.world);
  if (!vm.count("out")) throw UsageError("ksi synth: --out FILE is required");
  generator->run(vm, call.world);
  return 0;
}

}  // namespace ksi::app

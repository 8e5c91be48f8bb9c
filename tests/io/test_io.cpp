#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ksi/core/error.hpp"
#include "ksi/io/items.hpp"
#include "support/test_support.hpp"

using ksi::test::ScratchDir;
using ksi::test::World;
namespace fs = std::filesystem;
namespace io = ksi::io;

namespace {

// Item i, value k: a pattern that makes misplaced rows visible.
double pattern(std::size_t i, std::size_t k) {
  return 1000.0 * double(i) + double(k) + 0.25;
}

ksi::Matrix local_block(std::size_t count, std::size_t d, const ksi::par::Range& range) {
  ksi::Matrix m(range.size(), d);
  for (std::size_t i = 0; i < range.size(); ++i)
    for (std::size_t k = 0; k < d; ++k) m(i, k) = pattern(range.begin + i, k);
  return m;
}

void write_pattern(const std::string& path, const ksi::ItemShape& shape, std::size_t count,
                   io::DType dtype, bool force = false) {
  const auto& comm = World::comm();
  io::OutputFile out(path, force, {}, comm);
  const auto range = ksi::par::block_range(count, comm.rank(), comm.size());
  io::write_items(out, shape, count, range.begin, local_block(count, shape.size(), range), dtype,
                  2.0);
  out.commit();
}

}  // namespace

TEST(Items, RoundTripOverRanksVectorsAndGrids) {
  ScratchDir dir("io");
  const auto& comm = World::comm();
  for (const auto& shape :
       {ksi::ItemShape::vector(5), ksi::ItemShape::grid({4, 6}), ksi::ItemShape::grid({3, 4, 2})}) {
    const std::string path = dir.path("items" + std::to_string(shape.grid_rank()) + ".h5");
    write_pattern(path, shape, 11, io::DType::float64);
    const auto local = io::read_items(path, comm);
    EXPECT_EQ(local.info.count, 11u);
    EXPECT_EQ(local.info.shape, shape);
    EXPECT_EQ(local.info.dtype, io::DType::float64);
    EXPECT_DOUBLE_EQ(local.info.box_size, 2.0);
    const auto expected = ksi::par::block_range(11, comm.rank(), comm.size());
    EXPECT_EQ(local.range.begin, expected.begin);
    EXPECT_EQ(local.range.end, expected.end);
    for (std::size_t i = 0; i < local.values.rows(); ++i)
      for (std::size_t k = 0; k < shape.size(); ++k)
        ASSERT_EQ(local.values(i, k), pattern(local.range.begin + i, k));
    EXPECT_EQ(fs::exists(io::xdmf_path_for(path)), shape.grid_rank() >= 2);
  }
}

TEST(Items, Float32StorageConvertsOnRead) {
  ScratchDir dir("io32");
  const std::string path = dir.path("f32.h5");
  write_pattern(path, ksi::ItemShape::vector(3), 4, io::DType::float32);
  const auto local = io::read_items(path, World::comm(), ksi::par::Range{0, 4});
  EXPECT_EQ(local.info.dtype, io::DType::float32);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t k = 0; k < 3; ++k)
      EXPECT_EQ(local.values(i, k), double(static_cast<float>(pattern(i, k))));
}

TEST(Items, NonFiniteValuesAreRejectedNamingTheItem) {
  ScratchDir dir("ionan");
  const auto& comm = World::comm();
  const std::string path = dir.path("nan.h5");
  {
    io::OutputFile out(path, false, {}, comm);
    const auto range = ksi::par::block_range(9, comm.rank(), comm.size());
    auto block = local_block(9, 2, range);
    for (std::size_t i = 0; i < block.rows(); ++i)
      if (range.begin + i == 6) block(i, 1) = std::nan("");
    io::write_items(out, ksi::ItemShape::vector(2), 9, range.begin, block, io::DType::float64);
    out.commit();
  }
  try {
    io::read_items(path, comm);
    FAIL() << "NaN not detected";
  } catch (const ksi::Error& e) {
    EXPECT_EQ(e.code(), ksi::ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("item 6"), std::string::npos) << e.what();
  }
}

TEST(Items, MissingAndForeignFilesAreInputErrors) {
  ScratchDir dir("iomissing");
  const auto& comm = World::comm();
  try {
    io::read_items(dir.path("nope.h5"), comm);
    FAIL();
  } catch (const ksi::Error& e) {
    EXPECT_EQ(e.code(), ksi::ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos);
  }
  if (comm.is_root()) std::ofstream(dir.path("text.h5")) << "not hdf5\n";
  comm.barrier();
  try {
    io::read_items(dir.path("text.h5"), comm);
    FAIL();
  } catch (const ksi::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos);
  }
}

// Every file written through OutputFile carries the format version; File::open reads a file without
// it as version 1 and refuses another version on every rank, naming the file and both versions.
TEST(FormatVersion, WrittenCheckedAndAbsentMeansOne) {
  ScratchDir dir("ioversion");
  const auto& comm = World::comm();
  const std::string path = dir.path("items.h5");
  write_pattern(path, ksi::ItemShape::vector(2), 5, io::DType::float64);
  {
    io::File file = io::File::open(path, comm);
    EXPECT_EQ(file.root().integer_attribute(io::kFormatVersionAttribute), io::kFormatVersion);
    EXPECT_EQ(io::format_version(file.root(), path), 1);
  }
  for (const std::int64_t version : {std::int64_t{2}, std::int64_t{0}}) {
    const std::string other = dir.path("version" + std::to_string(version) + ".h5");
    write_pattern(other, ksi::ItemShape::vector(2), 5, io::DType::float64);
    {
      io::File file = io::File::open(other, comm, /*writable=*/true);
      file.root().set_attribute(io::kFormatVersionAttribute, version);
      file.close();
    }
    try {
      io::read_items(other, comm);
      FAIL() << "version " << version << " accepted";
    } catch (const ksi::Error& e) {
      EXPECT_EQ(e.code(), ksi::ExitCode::input);
      const std::string text = e.what();
      EXPECT_NE(text.find(other + " is in ksi file format version " + std::to_string(version)),
                std::string::npos)
          << text;
      EXPECT_NE(text.find("reads format version 1"), std::string::npos) << text;
    }
  }
  // Without the attribute (an earlier ksi, or h5py): version 1, read as before.
  const std::string bare = dir.path("bare.h5");
  {
    io::File file = io::File::create(bare, comm);
    const io::RowDataset rows =
        file.root().create_rows(io::kFieldsDataset, io::DType::float64, 3, {2});
    const auto range = ksi::par::block_range(3, comm.rank(), comm.size());
    rows.write_rows(range.begin, range.size(), local_block(3, 2, range).values());
  }
  {
    io::File file = io::File::open(bare, comm);
    EXPECT_FALSE(file.root().has_attribute(io::kFormatVersionAttribute));
    EXPECT_EQ(io::format_version(file.root(), bare), 1);
  }
  EXPECT_EQ(io::read_items(bare, comm).info.count, 3u);
}

TEST(OutputFile, RefusesToOverwriteWithoutForceAndKeepsTheOriginal) {
  ScratchDir dir("ioforce");
  const auto& comm = World::comm();
  const std::string path = dir.path("out.h5");
  write_pattern(path, ksi::ItemShape::vector(2), 3, io::DType::float64);
  const auto size_before = fs::file_size(path);
  try {
    write_pattern(path, ksi::ItemShape::vector(2), 5, io::DType::float64);
    FAIL() << "overwrote without --force";
  } catch (const ksi::Error& e) {
    EXPECT_EQ(e.code(), ksi::ExitCode::io);
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos);
  }
  EXPECT_EQ(fs::file_size(path), size_before);
  EXPECT_EQ(io::read_items(path, comm).info.count, 3u);
  write_pattern(path, ksi::ItemShape::vector(2), 5, io::DType::float64, /*force=*/true);
  EXPECT_EQ(io::read_items(path, comm).info.count, 5u);
}

TEST(OutputFile, AnErrorBeforeCommitLeavesNothing) {
  ScratchDir dir("ioabort");
  const auto& comm = World::comm();
  const std::string path = dir.path("partial.h5");
  std::string temporary;
  try {
    io::OutputFile out(path, false, {}, comm);
    temporary = out.temporary_path();
    EXPECT_TRUE(fs::exists(temporary));
    comm.barrier();  // every rank has looked before rank 0's destructor removes it
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error&) {
  }
  comm.barrier();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(temporary));
  EXPECT_TRUE(fs::is_empty(dir.root()));
}

TEST(OutputFile, AnInputIsNeverAnOutput) {
  ScratchDir dir("ioinput");
  const std::string path = dir.path("data.h5");
  write_pattern(path, ksi::ItemShape::vector(2), 3, io::DType::float64);
  EXPECT_THROW(io::check_output_path(path, true, {path}, World::comm()), ksi::Error);
  EXPECT_THROW(io::check_output_path(dir.path("nofolder/x.h5"), false, {}, World::comm()),
               ksi::Error);
}

TEST(Attributes, RoundTrip) {
  ScratchDir dir("ioattr");
  const auto& comm = World::comm();
  const std::string path = dir.path("attrs.h5");
  {
    io::OutputFile out(path, false, {}, comm);
    {
      const io::Group root = out.root();
      root.set_attribute("text", "héllo");
      root.set_attribute("real", 0.1);
      root.set_attribute("integer", std::int64_t{-7});
      const std::vector<double> reals{1.5, 2.5};
      root.set_attribute("reals", std::span<const double>(reals));
      const io::Group g = root.create_group("group");
      g.write("small", {2, 2}, std::vector<double>{1, 2, 3, 4});
      g.write_strings("names", {"a", "longer name", ""});
    }
    out.commit();
  }
  io::File file = io::File::open(path, comm);
  const io::Group root = file.root();
  EXPECT_EQ(root.text_attribute("text"), "héllo");
  EXPECT_EQ(root.real_attribute("real"), 0.1);
  EXPECT_EQ(root.integer_attribute("integer"), -7);
  EXPECT_EQ(root.reals_attribute("reals"), (std::vector<double>{1.5, 2.5}));
  EXPECT_THROW(root.text_attribute("real"), ksi::InputError);
  EXPECT_THROW(root.real_attribute("missing"), ksi::InputError);
  const io::Group g = root.open_group("group");
  std::vector<std::size_t> dims;
  EXPECT_EQ(g.read_reals("small", &dims), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(dims, (std::vector<std::size_t>{2, 2}));
  EXPECT_EQ(g.read_strings("names"), (std::vector<std::string>{"a", "longer name", ""}));
}

TEST(Xdmf, DescribesEveryItem) {
  const std::string x = io::xdmf_for_fields("d.h5", "fields", 3, {8, 8, 4}, true, 1.0);
  EXPECT_NE(x.find("3DCoRectMesh"), std::string::npos);
  EXPECT_NE(x.find("Dimensions=\"8 8 4\""), std::string::npos);
  EXPECT_NE(x.find("d.h5:/fields"), std::string::npos);
  EXPECT_NE(x.find("item 2"), std::string::npos);
  EXPECT_EQ(x.find("item 3"), std::string::npos);
  EXPECT_NE(x.find("Precision=\"4\""), std::string::npos);
}

// ksi synth's writer: items produced rank by rank in rounds (uneven blocks: ranks with fewer items
// still enter every collective write), read back in place with the set's attributes; a non-finite
// item ends the job on every rank with one error naming it, and leaves no file.
TEST(GeneratedItems, WrittenRoundByRoundAndNothingOnANonFiniteItem) {
  ScratchDir dir("iogen");
  const auto& comm = World::comm();
  const ksi::ItemShape shape = ksi::ItemShape::grid({4, 6});
  io::GeneratedItems set;
  set.path = dir.path("gen.h5");
  set.generator = "pattern";
  set.seed = 17;
  set.shape = shape;
  set.total = 7;
  set.local = ksi::par::block_range(7, comm.rank(), comm.size());
  set.box_size = 3.0;
  std::size_t produced = 0;
  const auto produce = [&](std::size_t i, std::span<double> item) {
    ++produced;
    for (std::size_t k = 0; k < item.size(); ++k) item[k] = pattern(i, k);
  };
  io::write_generated_items(
      set, produce, [](const io::Group& root) { root.set_attribute("extra", 2.5); }, comm);
  EXPECT_EQ(produced, set.local.size());
  const auto local = io::read_items(set.path, comm);
  EXPECT_EQ(local.info.count, 7u);
  EXPECT_DOUBLE_EQ(local.info.box_size, 3.0);
  for (std::size_t i = 0; i < local.values.rows(); ++i)
    for (std::size_t k = 0; k < shape.size(); ++k)
      ASSERT_EQ(local.values(i, k), pattern(local.range.begin + i, k));
  {
    io::File file = io::File::open(set.path, comm);
    const io::Group root = file.root();
    EXPECT_EQ(root.text_attribute("generator"), "pattern");
    EXPECT_EQ(root.integer_attribute("seed"), 17);
    EXPECT_EQ(root.real_attribute("extra"), 2.5);
  }
  EXPECT_TRUE(fs::exists(io::xdmf_path_for(set.path)));

  set.path = dir.path("nan.h5");
  try {
    io::write_generated_items(
        set,
        [&](std::size_t i, std::span<double> item) {
          produce(i, item);
          if (i == 5) item[3] = std::nan("");
        },
        [](const io::Group&) {}, comm);
    ADD_FAILURE() << "a non-finite item was written";
  } catch (const ksi::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pattern: item 5 has non-finite values"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(set.path));
  EXPECT_FALSE(fs::exists(io::xdmf_path_for(set.path)));
}

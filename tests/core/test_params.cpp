#include <gtest/gtest.h>

#include "ksi/core/error.hpp"
#include "ksi/core/params.hpp"
#include "ksi/core/shape.hpp"

TEST(Params, TypedAccessAndErrors) {
  ksi::Params p{
      {"count", "12"}, {"scale", "0.5"}, {"on", "yes"}, {"list", "3,5,7"}, {"bad", "1.5x"}};
  EXPECT_EQ(p.integer("count"), 12);
  EXPECT_DOUBLE_EQ(p.real("scale"), 0.5);
  EXPECT_TRUE(p.flag("on", false));
  EXPECT_EQ(p.integers("list"), (std::vector<std::int64_t>{3, 5, 7}));
  EXPECT_EQ(p.integer("missing", 4), 4);
  EXPECT_THROW(p.real("bad"), ksi::UsageError);
  EXPECT_THROW(p.integer("scale"), ksi::UsageError);
  EXPECT_THROW(p.text("missing"), ksi::UsageError);
}

TEST(Params, RealRoundTripsExactly) {
  ksi::Params p;
  p.set("x", 0.1 + 0.2);
  EXPECT_EQ(p.real("x"), 0.1 + 0.2);
}

TEST(ItemShape, SizesAndValidation) {
  EXPECT_EQ(ksi::ItemShape::vector(7).size(), 7u);
  EXPECT_EQ(ksi::ItemShape::grid({8, 4, 2}).size(), 64u);
  EXPECT_EQ(ksi::ItemShape::grid({8, 4}).grid_rank(), 2);
  EXPECT_EQ(ksi::ItemShape::vector(3).grid_rank(), 0);
  EXPECT_THROW(ksi::ItemShape::grid({8, 8, 8, 8}), ksi::InputError);
  EXPECT_THROW(ksi::ItemShape::vector(0), ksi::InputError);
}

TEST(SplitList, KeepsEveryItemEmptyOnesToo) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ksi::split_list("a+b+c", '+'), (V{"a", "b", "c"}));
  EXPECT_EQ(ksi::split_list("a++b", '+'), (V{"a", "", "b"}));
  EXPECT_EQ(ksi::split_list("a+", '+'), (V{"a", ""}));
  EXPECT_EQ(ksi::split_list("", ','), (V{""}));
  EXPECT_EQ(ksi::split_list("3,5", ','), (V{"3", "5"}));
}

// The compiled-in ADE tables against the shared reference facts they were generated from.
#include <catch2/catch.hpp>

#include <difss/condition/ade_tables.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "shared_data.hpp"

namespace ade = difss::condition::ade;

TEST_CASE("ADE palette and mappers equal the shared JSON", "[condition][ade][shared]") {
  DIFSS_REQUIRE_SHARED("ref/ade_palette_and_mappers.json");
  std::ifstream f(difss::test::shared_dir() / "ref" / "ade_palette_and_mappers.json");
  auto j = nlohmann::json::parse(f);
  REQUIRE(j["ade_palette_rgb"].size() == size_t(ade::kClassCount));
  for (int i = 0; i < ade::kClassCount; ++i) {
    auto c = ade::palette(i);
    INFO("ADE " << i);
    CHECK(int(c[0]) == j["ade_palette_rgb"][i][0].get<int>());
    CHECK(int(c[1]) == j["ade_palette_rgb"][i][1].get<int>());
    CHECK(int(c[2]) == j["ade_palette_rgb"][i][2].get<int>());
    CHECK(std::string(ade::class_name(i)) == j["ade_classes"][i].get<std::string>());
  }
  for (int k = 0; k <= 20; ++k) CHECK(ade::pascal_to_ade(k) == j["pascal"][std::to_string(k)]["ade_index"].get<int>());
  for (int k = 0; k <= 80; ++k) CHECK(ade::coco_to_ade(k) == j["coco"][std::to_string(k)]["ade_index"].get<int>());
  REQUIRE(j["fss1000"].size() == size_t(ade::kFssClassCount));
  for (int i = 0; i < ade::kFssClassCount; ++i) {
    const auto& e = j["fss1000"][i];
    INFO("FSS " << i << " " << e["name"]);
    CHECK(ade::fss1000_to_ade(i) == e["ade_index"].get<int>());
    CHECK(ade::fss1000_index_of(e["name"].get<std::string>()) == i);  // JSON spells with spaces
  }
}

TEST_CASE("ADE table look-ups", "[condition][ade]") {
  CHECK(ade::palette(0) == ade::Rgb{120, 120, 120});   // background colour
  CHECK(ade::pascal_to_ade(15) == 12);                 // person
  CHECK(ade::palette(12) == ade::Rgb{150, 5, 61});
  CHECK(ade::coco_to_ade(1) == 12);                    // person
  CHECK(ade::coco_to_ade(44) == 108);                  // spoon
  CHECK(ade::pascal_to_ade(21) == -1);
  CHECK(ade::coco_to_ade(-1) == -1);
  CHECK(ade::fss1000_index_of("taxi") == 1);
  CHECK(ade::fss1000_to_ade(1) == 83);                 // the colour every FSS class gets officially
  CHECK(ade::fss1000_index_of("Assult Rifle") == 2);
  CHECK(ade::fss1000_index_of("eiffel_tower") == -1);  // the FSS-1000 example class is not in the list
  for (int i = 0; i < ade::kFssClassCount; ++i) CHECK(ade::fss1000_index_of(ade::fss1000_name(i)) == i);
  CHECK(ade::index_of_class_name("Person") == 12);
  CHECK(ade::index_of_class_name("bed") == 7);         // mmseg spells it "bed " (trailing space)
  CHECK(ade::index_of_class_name("no such class") == -1);
  CHECK(ade::hashed_index("eiffel tower") == 42);      // 1 + FNV-1a-32 % 149, computed by hand in Python
  CHECK(ade::hashed_index("Eiffel_Tower") == 42);
  CHECK(ade::hashed_index("my class") == 135);
  CHECK_THROWS_AS(ade::palette(150), std::out_of_range);
  CHECK_THROWS_AS(ade::fss1000_name(1000), std::out_of_range);
}

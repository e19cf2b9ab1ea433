#include <difss/core/suggest.hpp>

#include <catch2/catch.hpp>

using namespace difss;

TEST_CASE("edit distance") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("seed", "sede") == 1);  // one transposition
  CHECK(edit_distance("abc", "ABC") == 0);  // case-insensitive
}

TEST_CASE("did you mean") {
  std::vector<std::string> keys{"seed", "name", "output", "threads"};
  CHECK(did_you_mean("sed", keys) == " (did you mean 'seed'?)");
  CHECK(did_you_mean("thread", keys) == " (did you mean 'threads'?)");
  CHECK(did_you_mean("zzzzzzzz", keys).empty());
}

// CLIP tokenizer: ids of known prompts (reference: openai/CLIP simple_tokenizer.py logic with the
// real `regex` module, see tests/data/README.md), padding as ldm's FrozenCLIPEmbedder pads.
#include <catch2/catch.hpp>

#include <difss/sd/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "shared_data.hpp"

using difss::sd::ClipTokenizer;

namespace {
const ClipTokenizer& tokenizer() {
  static ClipTokenizer t =
      ClipTokenizer::from_file((difss::test::shared_dir() / "ref/clip/bpe_simple_vocab_16e6.txt.gz").string());
  return t;
}
}  // namespace

TEST_CASE("CLIP tokenizer: the official DifFSS prompt, double comma as one token", "[sd][tokenizer][shared]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  const auto& t = tokenizer();
  CHECK(t.vocab_size() == 49408);
  // ",," is merge ", ,</w>" (line 8334 of the merges file -> id 8844); "dog</w>" 1929.
  std::vector<int32_t> ids = t.encode("a real shot photo of dog,, best quality, extremely detailed");
  CHECK(ids == std::vector<int32_t>{320, 1532, 2000, 1125, 539, 1929, 8844, 949, 3027, 267, 6519, 12609});
  CHECK(t.token(8844) == ",,</w>");
  CHECK(t.encode("a real shot photo of dog, best quality, extremely detailed") ==
        std::vector<int32_t>{320, 1532, 2000, 1125, 539, 1929, 267, 949, 3027, 267, 6519, 12609});
  // The ids Hugging Face documents for CLIP.
  CHECK(t.encode("a photo of a cat") == std::vector<int32_t>{320, 1125, 539, 320, 2368});
}

TEST_CASE("CLIP tokenizer: padding to 77 like FrozenCLIPEmbedder", "[sd][tokenizer][shared]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  const auto& t = tokenizer();
  std::vector<int32_t> p = t.encode_padded("a photo of a cat");
  REQUIRE(p.size() == 77);
  CHECK(p[0] == 49406);
  CHECK(std::vector<int32_t>(p.begin() + 1, p.begin() + 6) == std::vector<int32_t>{320, 1125, 539, 320, 2368});
  for (size_t i = 6; i < 77; ++i) CHECK(p[i] == 49407);  // end token, then pad = <|endoftext|>
  std::vector<int32_t> e = t.encode_padded("");
  CHECK(e[0] == 49406);
  CHECK(e[1] == 49407);
  CHECK(e[76] == 49407);
}

TEST_CASE("CLIP tokenizer: reference ids of tests/data/tokenizer_ref.json", "[sd][tokenizer][shared]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  std::ifstream f(std::string(DIFSS_SD_TEST_DATA) + "/tokenizer_ref.json");
  REQUIRE(f.good());
  nlohmann::json ref = nlohmann::json::parse(f);
  REQUIRE(ref.size() >= 8);
  for (const auto& item : ref) {
    const std::string text = item["text"].get<std::string>();
    INFO("text: " << text);
    CHECK(tokenizer().encode(text) == item["ids"].get<std::vector<int32_t>>());
    CHECK(tokenizer().encode_padded(text) == item["padded"].get<std::vector<int32_t>>());
  }
}

TEST_CASE("CLIP tokenizer: cleaning and pre-tokenisation", "[sd][tokenizer]") {
  CHECK(ClipTokenizer::clean_text("  Hello \t\n World  ") == "hello world");
  CHECK(ClipTokenizer::clean_text("&amp;amp; &lt;b&gt; &#233; &#x41;") == "& <b> é a");
  CHECK(ClipTokenizer::clean_text("\xC3\x89T\xC3\x89 \xD0\x9C\xD0\x98\xD0\xA0") == "\xC3\xA9t\xC3\xA9 \xD0\xBC\xD0\xB8\xD1\x80");
  using V = std::vector<std::string>;
  CHECK(ClipTokenizer::pre_tokenize("dog,, best") == V{"dog", ",,", "best"});
  CHECK(ClipTokenizer::pre_tokenize("it's 42!?") == V{"it", "'s", "4", "2", "!?"});
  CHECK(ClipTokenizer::pre_tokenize("don't'll") == V{"don", "'t", "'ll"});
  CHECK(ClipTokenizer::pre_tokenize("<|startoftext|>hi<|endoftext|>") ==
        V{"<|startoftext|>", "hi", "<|endoftext|>"});
  CHECK(ClipTokenizer::pre_tokenize("caf\xC3\xA9 \xC2\xBD") == V{"caf\xC3\xA9", "\xC2\xBD"});
  // invalid UTF-8 is kept byte for byte as "other" characters
  CHECK(ClipTokenizer::pre_tokenize("a\xFF\xFE b") == V{"a", "\xFF\xFE", "b"});
}

TEST_CASE("CLIP tokenizer: truncation keeps 75 tokens between start and end", "[sd][tokenizer][shared]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  std::string text;
  for (int i = 0; i < 100; ++i) text += "dog ";
  std::vector<int32_t> p = tokenizer().encode_padded(text);
  REQUIRE(p.size() == 77);
  CHECK(p[0] == 49406);
  for (int i = 1; i <= 75; ++i) CHECK(p[size_t(i)] == 1929);
  CHECK(p[76] == 49407);
  CHECK(tokenizer().decode(tokenizer().encode("a photo of a cat")) == "a photo of a cat ");
}

TEST_CASE("CLIP tokenizer: bad files are reported with their name", "[sd][tokenizer]") {
  CHECK_THROWS_WITH(ClipTokenizer::from_file("/nonexistent/bpe.txt.gz"),
                    Catch::Contains("/nonexistent/bpe.txt.gz"));
  const std::string path = std::string(DIFSS_BINARY_DIR) + "/sd_bad_merges.txt";
  { std::ofstream(path) << "header\ni n\nt h\n"; }  // plain text: gzread passes it through
  CHECK_THROWS_WITH(ClipTokenizer::from_file(path), Catch::Contains("merges"));
}

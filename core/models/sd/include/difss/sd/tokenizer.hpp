// The CLIP byte-level BPE tokenizer of Stable Diffusion 1.x (openai/CLIP simple_tokenizer.py,
// which Hugging Face's CLIPTokenizer reproduces), built from `bpe_simple_vocab_16e6.txt.gz`.
// No LibTorch.
//
// Pipeline of encode(): clean_text (html-unescape twice, collapse whitespace, strip, lower-case)
// -> pre_tokenize (the CLIP pattern
//      <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//    implemented by hand) -> bytes mapped to printable code points -> BPE merges by rank.
// Differences from the official tokenizer (documented in core/models/sd/README.md): ftfy's
// fix_text is not applied (mojibake repair, NFC normalisation); html.unescape knows a common
// subset of the named entities plus all numeric ones; Unicode letter/number classes and
// lower-casing are exact for ASCII and cover the main scripts (Latin, Greek, Cyrillic, CJK,
// Hangul, Kana, Arabic, Hebrew, ...) by code-point ranges.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace difss::sd {

class ClipTokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;
  static constexpr int kContextLength = 77;

  // Reads the gzip'ed merges file. Throws std::runtime_error naming the file when it is
  // missing, not gzip, or does not hold the 48,894 merges the vocabulary needs.
  static ClipTokenizer from_file(const std::string& bpe_gz_path);

  // BPE ids of `text` without start/end tokens.
  std::vector<int32_t> encode(const std::string& text) const;
  // What ldm's FrozenCLIPEmbedder feeds the text encoder (HF CLIPTokenizer, truncation=True,
  // max_length=77, padding="max_length", pad token <|endoftext|>):
  // [49406, ids[:context-2]..., 49407, 49407 padding...], exactly `context` ids.
  std::vector<int32_t> encode_padded(const std::string& text, int context = kContextLength) const;
  // Inverse of encode (for messages and tests): "</w>" becomes a space.
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t vocab_size() const { return int32_t(vocab_.size()); }
  const std::string& token(int32_t id) const { return vocab_.at(size_t(id)); }

  // The steps of encode(), exposed for tests.
  static std::string clean_text(const std::string& text);
  static std::vector<std::string> pre_tokenize(const std::string& cleaned);
  std::vector<std::string> bpe(const std::string& byte_encoded_word) const;

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

 private:
  ClipTokenizer() = default;
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> encoder_;
  std::unordered_map<std::string, int32_t> ranks_;  // "first second" -> merge rank
  std::vector<std::string> byte_encoder_;           // byte -> UTF-8 of its code point
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
  mutable std::unique_ptr<std::mutex> cache_mutex_;
};

}  // namespace difss::sd

// "Did you mean ...?" for unknown keys and plugin ids.
#pragma once

#include <string>
#include <vector>

namespace difss {

size_t edit_distance(const std::string& a, const std::string& b);
// Candidates close to `word` (edit distance within max(2, |word|/3), or sharing a dotted tail),
// best first, at most `limit`.
std::vector<std::string> close_matches(const std::string& word,
                                       const std::vector<std::string>& candidates,
                                       size_t limit = 3);
// " (did you mean 'a' or 'b'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace difss

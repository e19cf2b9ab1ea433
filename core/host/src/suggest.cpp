#include "difss/core/suggest.hpp"

#include <algorithm>
#include <cctype>

namespace difss {

// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions, the most
// common typo), case-insensitive.
size_t edit_distance(const std::string& a, const std::string& b) {
  auto eq = [](char x, char y) { return std::tolower(x) == std::tolower(y); };
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + !eq(a[i - 1], b[j - 1])});
      if (i > 1 && j > 1 && eq(a[i - 1], b[j - 2]) && eq(a[i - 2], b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

static std::string last_segment(const std::string& s) {
  auto p = s.find_last_of('.');
  return p == std::string::npos ? s : s.substr(p + 1);
}

std::vector<std::string> close_matches(const std::string& word,
                                       const std::vector<std::string>& candidates, size_t limit) {
  std::vector<std::pair<size_t, std::string>> scored;
  size_t budget = std::max<size_t>(2, word.size() / 3);
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    // For dotted plugin ids, a typo in the last segment ("seg-palete") should still match.
    size_t d_tail = edit_distance(last_segment(word), last_segment(c));
    size_t tail_budget = std::max<size_t>(2, last_segment(word).size() / 3);
    if (d <= budget) scored.emplace_back(d, c);
    else if (d_tail <= tail_budget) scored.emplace_back(d_tail + 1, c);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (auto& s : scored)  // only the best-scoring candidates: one good hint beats three guesses
    if (out.size() < limit && s.first == scored.front().first) out.push_back(s.second);
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto m = close_matches(word, candidates);
  if (m.empty()) return "";
  std::string s = " (did you mean ";
  for (size_t i = 0; i < m.size(); ++i)
    s += (i ? (i + 1 == m.size() ? " or " : ", ") : "") + ("'" + m[i] + "'");
  return s + "?)";
}

}  // namespace difss

// Fixed episode lists (JSON or canonical text); see episode_file.hpp.
#include "difss/data/episode_file.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "difss/data/dataset.hpp"
#include "difss/data/protocols.hpp"

namespace difss::data {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::vector<NamedEpisode> parse_text(const std::string& text, const std::string& source) {
  std::vector<NamedEpisode> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    const std::string at = source + ":" + std::to_string(n) + ": ";
    const auto fields = split(line, '\t');
    if (fields.size() != 3 || fields[1].empty() || fields[2].empty())
      throw std::runtime_error(at + "expected \"CLASS<TAB>QUERY<TAB>SUPPORT;SUPPORT;...\", got \"" + line + "\"");
    NamedEpisode e;
    try {
      std::size_t used = 0;
      e.class_id = std::stoi(fields[0], &used);
      if (used != fields[0].size()) throw std::invalid_argument(fields[0]);
    } catch (const std::exception&) {
      throw std::runtime_error(at + "the class '" + fields[0] + "' is not an integer");
    }
    e.query = fields[1];
    e.supports = split(fields[2], ';');
    for (const auto& s : e.supports)
      if (s.empty()) throw std::runtime_error(at + "an empty support name");
    out.push_back(std::move(e));
  }
  return out;
}

// Entries that carry only names are looked up in the dataset; entries with indices are checked.
std::vector<Episode> from_json(const Dataset& ds, const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object() || !doc.contains("episodes") || !doc["episodes"].is_array())
    throw std::runtime_error(source + ": not a difss-episodes document (\"episodes\" array missing)");
  bool named_only = true;
  for (const auto& e : doc["episodes"]) named_only = named_only && e.is_object() && !e.contains("query");
  if (!named_only) {
    try {
      return episodes_from_json(ds, doc);
    } catch (const std::exception& e) {
      throw std::runtime_error(source + ": " + e.what());
    }
  }
  if (doc.value("format", "") != "difss-episodes")
    throw std::runtime_error(source + ": not a difss-episodes document (\"format\" missing or different)");
  std::vector<NamedEpisode> named;
  for (std::size_t k = 0; k < doc["episodes"].size(); ++k) {
    const auto& j = doc["episodes"][k];
    try {
      named.push_back({j.at("class_id").get<int>(), j.at("query_name").get<std::string>(),
                       j.at("support_names").get<std::vector<std::string>>()});
    } catch (const nlohmann::json::exception& ex) {
      throw std::runtime_error(source + ": episode #" + std::to_string(k) + ": " + ex.what());
    }
  }
  try {
    return to_dataset_episodes(ds, named);
  } catch (const std::exception& e) {
    throw std::runtime_error(source + ": " + e.what());
  }
}

}  // namespace

std::vector<Episode> parse_episode_list(const Dataset& ds, const std::string& text, const std::string& source) {
  const auto first = text.find_first_not_of(" \t\r\n");
  std::vector<Episode> out;
  if (first != std::string::npos && text[first] == '{') {
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(source + ": invalid JSON: " + e.what());
    }
    out = from_json(ds, doc, source);
  } else {
    const auto named = parse_text(text, source);
    try {
      out = to_dataset_episodes(ds, named);
    } catch (const std::exception& e) {
      throw std::runtime_error(source + ": " + e.what());
    }
  }
  if (out.empty()) throw std::runtime_error(source + ": the episode list is empty");
  for (std::size_t i = 0; i < out.size(); ++i) out[i].index = i;
  return out;
}

std::vector<Episode> read_episode_file(const Dataset& ds, const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("episode list '" + file.string() + "' cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_episode_list(ds, text.str(), file.string());
}

}  // namespace difss::data

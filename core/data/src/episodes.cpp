// Deterministic episodes in HSNet's structure; see episodes.hpp and README "Episodes".
#include "difss/data/episodes.hpp"

#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "difss/data/dataset.hpp"

namespace difss::data {
namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

EpisodeRng::EpisodeRng(std::uint64_t seed, std::uint64_t index)
    : state_(mix64(mix64(seed) ^ (index * kGolden + 0x632BE59BD9B4E019ULL))) {}

std::uint64_t EpisodeRng::next() {
  state_ += kGolden;
  return mix64(state_);
}

std::uint64_t EpisodeRng::below(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("EpisodeRng::below(0)");
  const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: reject the top partial range
  for (;;) {
    const std::uint64_t x = next();
    if (x >= threshold) return x % n;
  }
}

SupportSampling parse_support_sampling(std::string_view text) {
  if (text == "hsnet") return SupportSampling::hsnet;
  if (text == "distinct") return SupportSampling::distinct;
  throw std::invalid_argument("support sampling must be 'hsnet' or 'distinct', got '" + std::string(text) + "'");
}

const char* to_string(SupportSampling s) { return s == SupportSampling::hsnet ? "hsnet" : "distinct"; }

Episode make_episode(const Dataset& ds, std::size_t index, std::uint64_t seed, int shots, SupportSampling sampling) {
  if (shots < 1) throw std::invalid_argument("episodes need shots >= 1, got " + std::to_string(shots));
  const auto& samples = ds.samples();
  EpisodeRng rng(seed, index);
  Episode ep;
  ep.index = index;
  if (ds.episode_protocol() == EpisodeProtocol::sequential) {
    // HSNet PASCAL / FSS-1000: idx %= len(img_metadata); query = img_metadata[idx].
    ep.query = index % samples.size();
    ep.class_id = samples[ep.query].class_id;
  } else {
    // HSNet COCO: class uniform among the fold's classes, query uniform among its images.
    // Classes without any image are skipped (HSNet would fail on them; real folds have none).
    std::vector<int> eligible;
    for (const auto& c : ds.classes())
      if (!ds.samples_of_class(c.id).empty()) eligible.push_back(c.id);
    if (eligible.empty()) throw std::runtime_error(ds.kind() + ": no class has images");
    ep.class_id = eligible[rng.below(eligible.size())];
    const auto& pool = ds.samples_of_class(ep.class_id);
    ep.query = pool[rng.below(pool.size())];
  }
  const std::string& qname = samples[ep.query].name;
  std::vector<std::size_t> others;
  for (std::size_t j : ds.samples_of_class(ep.class_id))
    if (samples[j].name != qname) others.push_back(j);
  if (others.empty())
    throw std::runtime_error(ds.kind() + ": class " + std::to_string(ep.class_id) + " (" +
                             ds.class_info(ep.class_id).name + ") has no image other than the query '" + qname +
                             "', so no support can be drawn");
  if (sampling == SupportSampling::hsnet) {
    // HSNet: repeat {draw one uniformly from the class's images; keep it unless it is the query}.
    // Drawing uniformly among the others directly has the same distribution and always ends.
    for (int k = 0; k < shots; ++k) ep.supports.push_back(others[rng.below(others.size())]);
  } else {
    if (others.size() < static_cast<std::size_t>(shots))
      throw std::runtime_error(ds.kind() + ": class " + std::to_string(ep.class_id) + " (" +
                               ds.class_info(ep.class_id).name + ") has " + std::to_string(others.size()) +
                               " image(s) besides the query; " + std::to_string(shots) +
                               " distinct supports are needed");
    for (int k = 0; k < shots; ++k) {  // partial Fisher-Yates
      const std::size_t j = static_cast<std::size_t>(k) + rng.below(others.size() - static_cast<std::size_t>(k));
      std::swap(others[static_cast<std::size_t>(k)], others[j]);
      ep.supports.push_back(others[static_cast<std::size_t>(k)]);
    }
  }
  return ep;
}

std::vector<Episode> make_episodes(const Dataset& ds, const EpisodeOptions& o) {
  const std::size_t count = o.count ? o.count : ds.default_episode_count();
  const int shots = o.shots ? o.shots : ds.config().shots;
  std::vector<Episode> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(make_episode(ds, i, o.seed, shots, o.sampling));
  return out;
}

std::vector<Episode> make_episodes(const Dataset& ds, std::size_t count, std::uint64_t seed, int shots,
                                   SupportSampling sampling) {
  EpisodeOptions o;
  o.count = count;
  o.seed = seed;
  o.shots = shots;
  o.sampling = sampling;
  return make_episodes(ds, o);
}

nlohmann::json episodes_to_json(const Dataset& ds, const std::vector<Episode>& episodes, const EpisodeOptions& o) {
  nlohmann::json doc;
  doc["format"] = "difss-episodes";
  doc["version"] = 1;
  doc["dataset"] = {{"kind", ds.kind()},
                    {"fold", ds.config().fold},
                    {"split", ds.config().split},
                    {"split_source", ds.split_source()}};
  doc["seed"] = o.seed;
  doc["shots"] = o.shots ? o.shots : ds.config().shots;
  doc["sampling"] = to_string(o.sampling);
  auto& arr = doc["episodes"] = nlohmann::json::array();
  const auto& s = ds.samples();
  for (const auto& e : episodes) {
    nlohmann::json names = nlohmann::json::array();
    for (auto j : e.supports) names.push_back(s.at(j).name);
    arr.push_back({{"index", e.index},
                   {"class_id", e.class_id},
                   {"query", e.query},
                   {"supports", e.supports},
                   {"query_name", s.at(e.query).name},
                   {"support_names", names}});
  }
  return doc;
}

std::vector<Episode> episodes_from_json(const Dataset& ds, const nlohmann::json& doc) {
  auto bad = [](const std::string& what) { return std::runtime_error("episode list: " + what); };
  if (!doc.is_object() || doc.value("format", "") != "difss-episodes")
    throw bad("not a difss-episodes document (\"format\" missing or different)");
  if (doc.value("version", 0) != 1) throw bad("unsupported version (expected 1)");
  if (!doc.contains("episodes") || !doc["episodes"].is_array()) throw bad("\"episodes\" array missing");
  const auto& s = ds.samples();
  std::vector<Episode> out;
  for (std::size_t k = 0; k < doc["episodes"].size(); ++k) {
    const auto& j = doc["episodes"][k];
    const std::string at = "episode #" + std::to_string(k) + ": ";
    Episode e;
    try {
      e.index = j.at("index").get<std::size_t>();
      e.class_id = j.at("class_id").get<int>();
      e.query = j.at("query").get<std::size_t>();
      e.supports = j.at("supports").get<std::vector<std::size_t>>();
    } catch (const nlohmann::json::exception& ex) {
      throw bad(at + ex.what());
    }
    auto check = [&](std::size_t idx, const nlohmann::json* name) {
      if (idx >= s.size())
        throw bad(at + "sample index " + std::to_string(idx) + " out of range (" + std::to_string(s.size()) + " samples)");
      if (s[idx].class_id != e.class_id)
        throw bad(at + "sample " + std::to_string(idx) + " ('" + s[idx].name + "') is not of class " +
                  std::to_string(e.class_id));
      if (name && name->is_string() && name->get<std::string>() != s[idx].name)
        throw bad(at + "sample " + std::to_string(idx) + " is '" + s[idx].name + "' in this dataset but '" +
                  name->get<std::string>() + "' in the list (different dataset or split list?)");
    };
    check(e.query, j.contains("query_name") ? &j["query_name"] : nullptr);
    if (e.supports.empty()) throw bad(at + "no supports");
    const nlohmann::json* names = j.contains("support_names") && j["support_names"].is_array() ? &j["support_names"] : nullptr;
    if (names && names->size() != e.supports.size()) throw bad(at + "support_names and supports differ in length");
    for (std::size_t q = 0; q < e.supports.size(); ++q) check(e.supports[q], names ? &(*names)[q] : nullptr);
    out.push_back(std::move(e));
  }
  return out;
}

std::string episodes_to_csv(const Dataset& ds, const std::vector<Episode>& episodes) {
  const auto& s = ds.samples();
  // Sample names never hold ',' or '"' in the built-in kinds; quote them anyway.
  auto quoted = [](const std::string& v) {
    if (v.find_first_of(",\";\n") == std::string::npos) return v;
    std::string q = "\"";
    for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream os;
  os << "index,class_id,query,supports,query_name,support_names\n";
  for (const auto& e : episodes) {
    std::string sup, names;
    for (std::size_t k = 0; k < e.supports.size(); ++k) {
      sup += (k ? ";" : "") + std::to_string(e.supports[k]);
      names += (k ? ";" : "") + s.at(e.supports[k]).name;
    }
    os << e.index << ',' << e.class_id << ',' << e.query << ',' << sup << ',' << quoted(s.at(e.query).name) << ','
       << quoted(names) << '\n';
  }
  return os.str();
}

}  // namespace difss::data

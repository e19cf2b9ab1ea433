// Deterministic episodes in HSNet's structure; see episodes.hpp and README "Episodes".
#include "difss/data/episodes.hpp"

#include <set>
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
  if (text == "cross_group") return SupportSampling::cross_group;
  if (text == "cross_group_distinct") return SupportSampling::cross_group_distinct;
  throw std::invalid_argument("support sampling must be 'hsnet', 'distinct', 'cross_group' or 'cross_group_distinct', got '" +
                              std::string(text) + "'");
}

const char* to_string(SupportSampling s) {
  switch (s) {
    case SupportSampling::hsnet: return "hsnet";
    case SupportSampling::distinct: return "distinct";
    case SupportSampling::cross_group: return "cross_group";
    case SupportSampling::cross_group_distinct: return "cross_group_distinct";
  }
  return "?";
}

namespace {

bool is_cross_group(SupportSampling s) {
  return s == SupportSampling::cross_group || s == SupportSampling::cross_group_distinct;
}

// Distinct seed for the query-order stream, so that it never replays an episode's stream.
constexpr std::uint64_t kQueryOrderStream = 0x51554552594f5244ULL;  // "QUERYORD"

// Pass `pass` of the shuffled query order: one sample of every class (classes in random order),
// then all other samples in random order. Every pass covers every sample once.
std::vector<std::size_t> shuffled_pass(const Dataset& ds, std::uint64_t seed, std::uint64_t pass) {
  EpisodeRng rng(seed ^ kQueryOrderStream, pass);
  auto shuffle = [&rng](auto& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  };
  std::vector<int> classes;
  for (const auto& c : ds.classes())
    if (!ds.samples_of_class(c.id).empty()) classes.push_back(c.id);
  shuffle(classes);
  std::vector<std::size_t> order;
  std::vector<bool> taken(ds.samples().size(), false);
  for (int c : classes) {
    const auto& pool = ds.samples_of_class(c);
    order.push_back(pool[rng.below(pool.size())]);
    taken[order.back()] = true;
  }
  std::vector<std::size_t> rest;
  for (std::size_t i = 0; i < taken.size(); ++i)
    if (!taken[i]) rest.push_back(i);
  shuffle(rest);
  order.insert(order.end(), rest.begin(), rest.end());
  return order;
}

// cross_group needs groups, and at least two of them in every class that has samples.
void check_groups(const Dataset& ds) {
  if (ds.group_count() == 0)
    throw std::runtime_error(ds.kind() + ": support_sampling cross_group needs sample groups, and this dataset defines "
                             "none (folder: option group = \"folder\" or group_regex; coco-json: group_regex)");
  std::string single;
  for (const auto& c : ds.classes()) {
    std::set<std::string> groups;
    for (std::size_t j : ds.samples_of_class(c.id)) groups.insert(ds.samples()[j].group);
    if (groups.size() == 1) single += (single.empty() ? "" : ", ") + c.name + " (only '" + *groups.begin() + "')";
  }
  if (!single.empty())
    throw std::runtime_error(ds.kind() + ": support_sampling cross_group draws supports from other groups than the "
                             "query's, but these classes have images of a single group: " + single);
}

Episode episode_with_query(const Dataset& ds, std::size_t index, std::uint64_t seed, int shots,
                           SupportSampling sampling, std::size_t shuffled_query) {
  if (shots < 1) throw std::invalid_argument("episodes need shots >= 1, got " + std::to_string(shots));
  const auto& samples = ds.samples();
  EpisodeRng rng(seed, index);
  Episode ep;
  ep.index = index;
  if (ds.episode_protocol() == EpisodeProtocol::sequential) {
    // HSNet PASCAL / FSS-1000: idx %= len(img_metadata); query = img_metadata[idx].
    ep.query = index % samples.size();
  } else if (ds.episode_protocol() == EpisodeProtocol::shuffled) {
    ep.query = shuffled_query;
  } else {
    // HSNet COCO: class uniform among the fold's classes, query uniform among its images.
    // Classes without any image are skipped (HSNet would fail on them; real folds have none).
    std::vector<int> eligible;
    for (const auto& c : ds.classes())
      if (!ds.samples_of_class(c.id).empty()) eligible.push_back(c.id);
    if (eligible.empty()) throw std::runtime_error(ds.kind() + ": no class has images");
    const int cls = eligible[rng.below(eligible.size())];
    const auto& pool = ds.samples_of_class(cls);
    ep.query = pool[rng.below(pool.size())];
  }
  ep.class_id = samples[ep.query].class_id;
  const Sample& q = samples[ep.query];
  const bool cross = is_cross_group(sampling);
  std::vector<std::size_t> others;
  for (std::size_t j : ds.samples_of_class(ep.class_id))
    if (samples[j].name != q.name && (!cross || samples[j].group != q.group)) others.push_back(j);
  const std::string cls = "class " + std::to_string(ep.class_id) + " (" + ds.class_info(ep.class_id).name + ")";
  if (others.empty())
    throw std::runtime_error(ds.kind() + ": " + cls + " has no image other than the query '" + q.name + "'" +
                             (cross ? " outside its group '" + q.group + "'" : std::string()) +
                             ", so no support can be drawn");
  if (sampling == SupportSampling::hsnet || sampling == SupportSampling::cross_group) {
    // HSNet: repeat {draw one uniformly from the class's images; keep it unless it is the query}.
    // Drawing uniformly among the others directly has the same distribution and always ends.
    for (int k = 0; k < shots; ++k) ep.supports.push_back(others[rng.below(others.size())]);
  } else {
    if (others.size() < static_cast<std::size_t>(shots))
      throw std::runtime_error(ds.kind() + ": " + cls + " has " + std::to_string(others.size()) + " image(s) besides the query" +
                               (cross ? " outside its group" : "") + "; " + std::to_string(shots) +
                               " distinct supports are needed");
    for (int k = 0; k < shots; ++k) {  // partial Fisher-Yates
      const std::size_t j = static_cast<std::size_t>(k) + rng.below(others.size() - static_cast<std::size_t>(k));
      std::swap(others[static_cast<std::size_t>(k)], others[j]);
      ep.supports.push_back(others[static_cast<std::size_t>(k)]);
    }
  }
  return ep;
}

}  // namespace

Episode make_episode(const Dataset& ds, std::size_t index, std::uint64_t seed, int shots, SupportSampling sampling) {
  if (is_cross_group(sampling)) check_groups(ds);
  std::size_t query = 0;
  if (ds.episode_protocol() == EpisodeProtocol::shuffled) {
    const std::size_t n = ds.samples().size();
    query = shuffled_pass(ds, seed, index / n)[index % n];
  }
  return episode_with_query(ds, index, seed, shots, sampling, query);
}

std::vector<Episode> make_episodes(const Dataset& ds, const EpisodeOptions& o) {
  const std::size_t count = o.count ? o.count : ds.default_episode_count();
  const int shots = o.shots ? o.shots : ds.config().shots;
  if (is_cross_group(o.sampling)) check_groups(ds);
  const bool shuffled = ds.episode_protocol() == EpisodeProtocol::shuffled;
  const std::size_t n = ds.samples().size();
  std::vector<std::size_t> pass_order;
  std::vector<Episode> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (shuffled && i % n == 0) pass_order = shuffled_pass(ds, o.seed, i / n);
    out.push_back(episode_with_query(ds, i, o.seed, shots, o.sampling, shuffled ? pass_order[i % n] : 0));
  }
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

// Few-shot episodes (query + K supports of one class) following HSNet's test protocol, drawn
// with difss's own deterministic generator. See README "Episodes" for what differs from the
// official Python sampler.
//
// Episode i depends only on (seed, i) and the dataset's sample list: never on the processing
// order, the thread or the machine, so episodes can be generated independently and sharded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace difss::data {

class Dataset;

// How the K supports are drawn among the class's samples whose image differs from the query's.
enum class SupportSampling {
  hsnet,     // K independent uniform draws (HSNet's loop: duplicates possible when K > 1)
  distinct,  // K distinct images, uniform without replacement (needs K other images)
  // As hsnet / distinct, among the class's samples of OTHER groups than the query's (Sample::group:
  // video, patient, site). Needs a dataset with groups and >= 2 groups in every class.
  cross_group,
  cross_group_distinct,
};
// "hsnet" | "distinct" | "cross_group" | "cross_group_distinct"
SupportSampling parse_support_sampling(std::string_view text);
const char* to_string(SupportSampling sampling);

struct Episode {
  std::size_t index = 0;   // episode number, 0-based
  int class_id = 0;
  std::size_t query = 0;   // index into Dataset::samples()
  std::vector<std::size_t> supports;
  bool operator==(const Episode& o) const {
    return index == o.index && class_id == o.class_id && query == o.query && supports == o.supports;
  }
};

struct EpisodeOptions {
  std::size_t count = 0;   // 0: dataset.default_episode_count() (HSNet: 1000 / 2400 for FSS test)
  std::uint64_t seed = 0;
  int shots = 0;           // 0: dataset.config().shots
  SupportSampling sampling = SupportSampling::hsnet;
};

// The deterministic stream of one episode: SplitMix64 (Steele et al. 2014) seeded with
// mix(mix(seed) ^ (index * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)).
class EpisodeRng {
 public:
  EpisodeRng(std::uint64_t seed, std::uint64_t index);
  std::uint64_t next();
  // Uniform integer in [0, n), n >= 1; unbiased (rejection of the top partial range).
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t state_;
};

// Episode `index`. Throws when the class has too few other images for the sampling. The query
// follows dataset.episode_protocol(): sequential, class_uniform, or shuffled (a permutation per
// pass of len(samples) episodes, from its own stream seeded by (seed, pass); see README).
Episode make_episode(const Dataset& dataset, std::size_t index, std::uint64_t seed, int shots,
                     SupportSampling sampling = SupportSampling::hsnet);
std::vector<Episode> make_episodes(const Dataset& dataset, const EpisodeOptions& options);
std::vector<Episode> make_episodes(const Dataset& dataset, std::size_t count, std::uint64_t seed,
                                   int shots, SupportSampling sampling = SupportSampling::hsnet);

// Serialisation. JSON: {"format":"difss-episodes","version":1,"dataset":{kind,fold,split,shots},
// "seed","sampling","episodes":[{"index","class_id","query","supports","query_name",
// "support_names"}]}. Reading checks that the indices still name the same samples.
nlohmann::json episodes_to_json(const Dataset& dataset, const std::vector<Episode>& episodes,
                                const EpisodeOptions& options);
std::vector<Episode> episodes_from_json(const Dataset& dataset, const nlohmann::json& doc);
// CSV with header "index,class_id,query,supports,query_name,support_names" (lists ';'-joined).
std::string episodes_to_csv(const Dataset& dataset, const std::vector<Episode>& episodes);

}  // namespace difss::data

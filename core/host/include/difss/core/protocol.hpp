// Evaluation protocols: `[evaluation] protocol` names a bundle of settings that evaluates as a
// paper's repository does (episode sampler and its generator, episode count, seed, input and
// evaluation size, ignore rule, metric). Keys written in the pipeline override the bundle's
// defaults; results.json records the resolved bundle ("protocol"). docs/PROTOCOLS.md describes
// each bundle, its sources and what is reproduced exactly.
#pragma once

#include <difss/data/episodes.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "difss/core/pipeline.hpp"

namespace difss {

namespace data {
class Dataset;
}

struct ProtocolBundle {
  std::string name;       // the [evaluation] protocol value
  std::string sampler;    // "difss": SplitMix64 episodes (episodes.hpp); "hsnet": HSNet's test loader
                          // with numpy's legacy RandomState; "bam": BAM's SemData with Python's
                          // random in 8 DataLoader workers, one run of episodes per seed (protocols.hpp;
                          // cyctr: CyCTR's one seed, 1001 episodes)
  std::string episodes;   // the default episode count, in words
  std::uint64_t seed = 0; // the seed the official test script fixes
  std::string eval_size;  // the default of [evaluation] eval_size
  int input_size = 0;     // the default of [evaluation] input_size
  std::string ignore;     // which label pixels are not scored
  std::string metric;     // how mIoU / FB-IoU are computed
  std::string source;     // repository @ commit and files
};

// Every bundle, "none" (difss's own episodes; today's behaviour) first.
const std::vector<ProtocolBundle>& protocol_bundles();
std::vector<std::string> protocol_names();
// Throws std::invalid_argument for an unknown name, listing the known ones.
const ProtocolBundle& protocol_bundle(const std::string& name);
// The default of [evaluation] input_size: the bundle's, or for bam / hdmnet / cyctr the val_size
// of the official config for the pipeline's dataset kind (coco20i: BAM 641, HDMNet 633, CyCTR 473).
int protocol_input_size(const Pipeline& p);

// The bundle as this run resolved it (the values in force, after the pipeline's own keys), for
// results.json.
nlohmann::json protocol_record(const Pipeline& p);

// The episodes a run evaluates: those of [dataset] episodes_file when it is set (a prefix when
// [dataset] episodes > 0), else the protocol's sampler's. `options` receives what the written
// episode list records (seed, shots, sampling). Problems are ConfigErrors naming the key.
std::vector<data::Episode> pipeline_episodes(const Pipeline& p, const data::Dataset& ds,
                                             data::EpisodeOptions& options);

// The episode list a run writes (run_dir/episodes.json): the difss-episodes document with the
// protocol's name; [dataset] episodes_file reads it back.
nlohmann::json episodes_record(const Pipeline& p, const data::Dataset& ds,
                               const std::vector<data::Episode>& episodes,
                               const data::EpisodeOptions& options);

// For the BAM-family protocols (bam, hdmnet; cyctr has one seed): per evaluation seed the mIoU, FB-IoU and pIoU of its
// episodes (`records`: episode index -> its record, as the runner gathers them), and their mean
// and best, as test.py prints them ({"seeds", "episodes_per_seed", "real_only"/"with_aux":
// {"per_seed": [...], "mean_miou", "mean_fbiou", "best_miou", "best_fbiou"}}). null for the other
// protocols.
nlohmann::json per_seed_metrics(const Pipeline& p, const data::Dataset& ds,
                                const std::map<std::size_t, nlohmann::json>& records,
                                const std::vector<data::Episode>& episodes);

// Prints per_seed_metrics' table (one row per seed, then mean and best) below the run's table.
void print_per_seed(const nlohmann::json& per_seed);

}  // namespace difss

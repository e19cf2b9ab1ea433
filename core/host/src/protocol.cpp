// The evaluation protocols' bundles and the episodes a run evaluates; see protocol.hpp and
// docs/PROTOCOLS.md.
#include "difss/core/protocol.hpp"

#include <difss/data/dataset.hpp>
#include <difss/data/episode_file.hpp>
#include <difss/data/protocols.hpp>

#include <limits>
#include <stdexcept>

#include "difss/core/errors.hpp"
#include "protocol_bam.hpp"

namespace difss {

namespace {

const char* const kHsnetSource =
    "juhongm999/hsnet @ 6b1bc12: test.py (fix_randseed(0), img_size 400), data/dataset.py (test loader: "
    "no shuffle, no workers), data/pascal.py, data/coco.py, data/fss.py (sample_episode), "
    "common/evaluation.py (Evaluator), common/logger.py (AverageMeter)";
const char* const kDcamaSource =
    "pawn-sxy/DCAMA @ 37fa053: test.py (fix_randseed(0), img_size 384); data/ and common/evaluation.py, "
    "common/logger.py AverageMeter as HSNet's (same episode sequences)";
const char* const kBamSource =
    "chunbolang/BAM @ c0f935c: test.py (val_manual_seed 123, val_num 5, seeds np.random.randint(0, 1000, 5), "
    "validate: 1000 episodes per seed, ori_resize), util/dataset.py SemData (val; COCO use_split_coco l.129-145), "
    "config/pascal/*.yaml (workers 8, val_size 473, resized_val, ori_resize), config/coco/coco_split0_resnet50.yaml "
    "(use_split_coco True, workers 8, val_size 641)";
const char* const kHdmnetSource =
    "Pbihao/HDMNet @ 39ec8b2: test.py (val_manual_seed 123, val_num 10), BAM's util/dataset.py sampler, "
    "test.py l.192-197 (COCO test_num 10000), util/transform.py Resize (stretch), config/pascal/*_manet.yaml "
    "(val_size 473, workers 8), config/coco/coco_split0_resnet50_manet.yaml (use_split_coco True, val_size 633, workers 8)";
const char* const kCyctrSource =
    "YanFangCS/CyCTR-Pytorch @ 1a06183: test.py l.65-72, 161-166 (manual_seed in torch, numpy, random), "
    "l.139-140 (val loader: 8 workers, no worker_init_fn), l.170-184 (test_num 1000, 20 passes, the "
    "(iter_num - 1) test: 1001 episodes), l.196-202 (ori_resize), l.214-246 (class_miou); util/dataset.py "
    "l.159-213 (SemData val: BAM's draws); config/pascal/pascal_split0_resnet50.yaml (manual_seed 123, "
    "workers 8, val_size 473, resized_val, ori_resize); COCO: test.py l.170-176 (test_num 5000: 5001 episodes), "
    "config/coco/coco_split0_resnet50.yaml (manual_seed 321, workers 16, val_size 473, use_split_coco True)";
const char* const kHsnetEpisodes = "1000 (PASCAL-5i, COCO-20i); 10 per class for FSS-1000 (2400 on its test split)";
const char* const kHsnetIgnore = "label 255 (PASCAL boundaries) after the nearest resize";
const char* const kHsnetMetric =
    "per-class intersection/union summed over episodes (histc); mIoU over the fold's classes, FB-IoU "
    "= mean of the background and foreground IoU of the summed counts";

std::string benchmark_of(const data::Dataset& ds, const std::string& protocol, const std::string& where) {
  if (ds.kind() == "pascal5i") return "pascal";
  if (ds.kind() == "coco20i") return "coco";
  if (ds.kind() == "fss1000") return "fss";
  throw ConfigError(where + ": [evaluation] protocol \"" + protocol +
                    "\" reproduces the official test loader of pascal5i, coco20i and fss1000; dataset kind '" +
                    ds.kind() + "' has none (use protocol = \"none\", or an episodes_file)");
}

// HSNet's (and DCAMA's) test episodes, as indices into the dataset.
std::vector<data::Episode> hsnet_episodes(const Pipeline& p, const data::Dataset& ds) {
  const std::string& name = p.evaluation.protocol;
  const std::string bench = benchmark_of(ds, name, p.where("evaluation", "protocol"));
  if (p.key_locs.count("dataset.support_sampling") && p.dataset.support_sampling != "hsnet")
    throw ConfigError(p.where("dataset", "support_sampling") + ": [evaluation] protocol \"" + name +
                      "\" draws supports as HSNet's test loader does; remove support_sampling (or use protocol "
                      "= \"none\")");
  if (p.dataset.split_dir.empty())
    throw ConfigError(p.where("dataset", "split_dir") + ": [evaluation] protocol \"" + name +
                      "\" needs [dataset] split_dir = a copy of HSNet's data/splits (the episode sequence depends "
                      "on its lists)");
  if (p.seed > std::numeric_limits<std::uint32_t>::max())
    throw ConfigError(p.where("pipeline", "seed") + ": [evaluation] protocol \"" + name +
                      "\" seeds numpy's RandomState, which takes a seed below 2^32");
  const auto seed = static_cast<std::uint32_t>(p.seed);
  const std::string split = p.dataset.split == "test" && bench != "fss" ? "val" : p.dataset.split;
  try {
    std::vector<data::NamedEpisode> named;
    if (bench == "fss") {
      std::vector<std::string> categories;
      for (const auto& c : ds.classes()) categories.push_back(c.name);
      named = data::hsnet_fss_episodes(categories, p.dataset.shots, split, seed, p.dataset.episodes);
    } else {
      if (split != "val")
        throw std::invalid_argument("HSNet's test loader evaluates the val split, not '" + p.dataset.split + "'");
      named = data::hsnet_test_episodes(data::parse_hsnet_benchmark(bench), p.dataset.split_dir, p.dataset.fold,
                                        p.dataset.shots, seed, p.dataset.episodes);
    }
    return data::to_dataset_episodes(ds, named);
  } catch (const std::exception& e) {
    throw ConfigError(p.where("evaluation", "protocol") + ": [evaluation] protocol \"" + name + "\": " + e.what());
  }
}

}  // namespace

const std::vector<ProtocolBundle>& protocol_bundles() {
  static const std::vector<ProtocolBundle> bundles = {
      {"none", "difss", "[dataset] episodes, else the dataset's default (HSNet's counts)", 0, "label", 400,
       "label 255", kHsnetMetric,
       "difss: episodes from SplitMix64 streams (core/data/include/difss/data/episodes.hpp), HSNet's structure"},
      {"hsnet", "hsnet", kHsnetEpisodes, 0, "model_input", 400, kHsnetIgnore, kHsnetMetric, kHsnetSource},
      {"dcama", "hsnet", kHsnetEpisodes, 0, "model_input", 384, kHsnetIgnore, kHsnetMetric, kDcamaSource},
      {"bam", "bam", "1000 per seed; seeds 510, 365, 382, 322, 988 (np.random.seed(123); randint(0, 1000, 5))", 123,
       "label", 473, "label 255 (boundaries; BAM's padding to a square is ignored too)",
       "per seed: mIoU over the fold's classes (class_miou), FB-IoU of the summed counts; per-seed, mean and best",
       kBamSource},
      {"hdmnet", "bam", "1000 per seed (coco20i: 10000); ten seeds from np.random.seed(123); randint(0, 1000, 10)", 123,
       "label", 473,
       "label 255 (boundaries; padding ignored)",
       "per seed: mIoU over the fold's classes, FB-IoU of the summed counts; per-seed, mean and best", kHdmnetSource},
      {"cyctr", "bam", "1001 (test_num 1000 and test.py's (iter_num - 1) break test; coco20i: 5001), at most 20 "
       "passes over the list; one evaluation seeded with manual_seed 123 (coco20i: 321)", 123, "label", 473,
       "label 255 (boundaries; padding ignored)",
       "mIoU over the fold's classes (class_miou), FB-IoU of the summed counts", kCyctrSource},
  };
  return bundles;
}

int protocol_input_size(const Pipeline& p) {
  const ProtocolBundle& b = protocol_bundle(p.evaluation.protocol);
  return b.sampler == "bam" ? detail::bam_settings(p).val_size : b.input_size;
}

std::vector<std::string> protocol_names() {
  std::vector<std::string> out;
  for (const auto& b : protocol_bundles()) out.push_back(b.name);
  return out;
}

const ProtocolBundle& protocol_bundle(const std::string& name) {
  for (const auto& b : protocol_bundles())
    if (b.name == name) return b;
  std::string known;
  for (const auto& n : protocol_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown evaluation protocol '" + name + "' (known: " + known + ")");
}

nlohmann::json protocol_record(const Pipeline& p) {
  const ProtocolBundle& b = protocol_bundle(p.evaluation.protocol);
  const bool from_file = !p.dataset.episodes_file.empty();
  nlohmann::json j = {{"name", b.name},
                      {"sampler", from_file ? std::string("episodes_file") : b.sampler},
                      {"episodes", p.dataset.episodes ? nlohmann::json(p.dataset.episodes) : nlohmann::json(b.episodes)},
                      {"seed", p.seed},
                      {"eval_size", p.evaluation.eval_size},
                      {"input_size", p.evaluation.input_size},
                      {"ignore", b.ignore},
                      {"metric", b.metric},
                      {"source", b.source}};
  if (from_file) j["episodes_file"] = p.dataset.episodes_file;
  // Which of the bundle's defaults the pipeline overrode.
  nlohmann::json overridden = nlohmann::json::array();
  if (p.evaluation.eval_size != b.eval_size) overridden.push_back("eval_size");
  if (p.evaluation.input_size != protocol_input_size(p)) overridden.push_back("input_size");
  if (b.sampler == "bam") {
    j["seeds"] = detail::bam_seeds(p);
    const data::BamFamilySettings s = detail::bam_settings(p);
    j["workers"] = s.workers;
    j["episodes_per_seed"] = p.dataset.episodes ? p.dataset.episodes : s.episodes;
    if (p.key_locs.count("pipeline.seed")) overridden.push_back("seed");
    if (!p.evaluation.protocol_lists.empty()) j["protocol_lists"] = p.evaluation.protocol_lists;
  } else if (p.seed != b.seed) {
    overridden.push_back("seed");
  }
  j["overridden"] = overridden;
  return j;
}

std::vector<data::Episode> pipeline_episodes(const Pipeline& p, const data::Dataset& ds, data::EpisodeOptions& eo) {
  eo.count = p.dataset.episodes;
  eo.seed = p.seed;
  eo.shots = p.dataset.shots;
  eo.sampling = data::parse_support_sampling(p.dataset.support_sampling);
  std::vector<data::Episode> episodes;
  if (!p.dataset.episodes_file.empty()) {
    try {
      episodes = data::read_episode_file(ds, p.dataset.episodes_file);
    } catch (const std::exception& e) {
      throw ConfigError(p.where("dataset", "episodes_file") + ": [dataset] episodes_file: " + e.what());
    }
    if (p.dataset.episodes > episodes.size())
      throw ConfigError(p.where("dataset", "episodes") + ": [dataset] episodes = " + std::to_string(p.dataset.episodes) +
                        " but the episodes_file lists " + std::to_string(episodes.size()));
    if (p.dataset.episodes) episodes.resize(p.dataset.episodes);
    eo.shots = int(episodes.front().supports.size());
    return episodes;
  }
  const std::string& sampler = protocol_bundle(p.evaluation.protocol).sampler;
  if (sampler == "hsnet") {
    eo.sampling = data::SupportSampling::hsnet;
    return hsnet_episodes(p, ds);
  }
  if (sampler == "bam") return detail::bam_episodes(p, ds);
  try {
    return data::make_episodes(ds, eo);
  } catch (const std::exception& e) {
    throw ConfigError(p.where("dataset", "shots") + ": cannot draw episodes: " + e.what());
  }
}

nlohmann::json episodes_record(const Pipeline& p, const data::Dataset& ds, const std::vector<data::Episode>& episodes,
                               const data::EpisodeOptions& options) {
  nlohmann::json doc = data::episodes_to_json(ds, episodes, options);
  doc["protocol"] = p.evaluation.protocol;
  if (!p.dataset.episodes_file.empty()) doc["episodes_file"] = p.dataset.episodes_file;
  return doc;
}

}  // namespace difss

// BAM's and HDMNet's test protocol in a run: their lists, seeds and per-seed numbers; see
// protocol.hpp and docs/PROTOCOLS.md.
#include "protocol_bam.hpp"

#include <difss/data/dataset.hpp>
#include <difss/data/image_io.hpp>
#include <difss/data/metrics.hpp>
#include <difss/data/protocols.hpp>
#include <difss/data/splits.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "difss/core/errors.hpp"
#include "difss/core/log.hpp"
#include "difss/core/protocol.hpp"

namespace difss {
namespace detail {
namespace {

std::string bam_benchmark(const std::string& dataset_kind) {
  if (dataset_kind == "pascal5i") return "pascal";
  if (dataset_kind == "coco20i") return "coco";
  return "";
}

using SamplesByStem = std::map<std::string, const data::Sample*>;

// The dataset's samples by image stem ("2007_000033", "COCO_val2014_000000019786"): how the lists'
// paths name them.
SamplesByStem samples_by_stem(const data::Dataset& ds) {
  SamplesByStem out;
  for (const auto& smp : ds.samples()) out.emplace(smp.image_path.stem().string(), &smp);
  return out;
}

// The sample a list path names, or null.
const data::Sample* find_sample(const SamplesByStem& samples, const std::string& path, const std::string& bench) {
  const std::string stem = std::filesystem::path(path).stem().string();
  auto it = samples.find(stem);
  // CyCTR's COCO lists name val2017 files by the bare image id; val2017 is part of val2014.
  if (it == samples.end() && bench == "coco") it = samples.find("COCO_val2014_" + stem);
  return it == samples.end() ? nullptr : it->second;
}

}  // namespace

data::BamFamilySettings bam_settings(const Pipeline& p) {
  const std::string bench = bam_benchmark(p.dataset.kind);
  // Another dataset kind is refused when the episodes are drawn (bam_lists); PASCAL's settings
  // stand for it until then (validate, the recorded bundle).
  return data::bam_family_settings(p.evaluation.protocol, bench.empty() ? "pascal" : bench);
}

std::vector<std::uint32_t> bam_seeds(const Pipeline& p) {
  if (p.key_locs.count("pipeline.seed")) {
    if (p.seed > std::numeric_limits<std::uint32_t>::max())
      throw ConfigError(p.where("pipeline", "seed") + ": [evaluation] protocol \"" + p.evaluation.protocol +
                        "\" seeds torch's generator and Python's random with a seed below 2^32");
    return {static_cast<std::uint32_t>(p.seed)};
  }
  const data::BamFamilySettings s = bam_settings(p);
  if (s.seed_count == 0) return {s.manual_seed};  // CyCTR: one evaluation seeded with manual_seed
  return data::bam_test_seeds(123, s.seed_count);
}

namespace {

// BAM's lists for the run's fold, with each entry's novel classes read from its label.
data::BamLists bam_lists(const Pipeline& p, const data::Dataset& ds, const SamplesByStem& samples) {
  const std::string& name = p.evaluation.protocol;
  const auto where = p.where("evaluation", "protocol_lists");
  const std::string bench = bam_benchmark(ds.kind());
  if (bench.empty())
    throw ConfigError(p.where("evaluation", "protocol") + ": [evaluation] protocol \"" + name +
                      "\" is reproduced for pascal5i and coco20i (use_split_coco: coco20i's interleaved folds); "
                      "dataset kind '" + ds.kind() + "'");
  if (p.evaluation.protocol_lists.empty())
    throw ConfigError(where + ": [evaluation] protocol \"" + name + "\" needs protocol_lists = the folder of BAM's lists/" +
                      bench + "/fss_list/val (data_list_<fold>.txt, sub_class_file_list_<fold>.txt; cyctr: CyCTR's "
                      "voc_val_list_split<fold>.pth written in that form, docs/PROTOCOLS.md): the episodes follow their order");
  if (bench == "coco") {
    const auto opt = p.dataset.options.find("ignore_255");
    if (opt == p.dataset.options.end() || (opt->is_string() ? opt->get<std::string>() : opt->dump()) != "1")
      logger()->warn("[evaluation] protocol \"{}\" on coco20i: label 255 is scored as background; the official "
                     "loaders ignore it (set [dataset] options = {{ ignore_255 = 1 }}, docs/PROTOCOLS.md)",
                     name);
  }
  const std::filesystem::path dir = p.evaluation.protocol_lists;
  const std::string fold = std::to_string(p.dataset.fold);
  data::BamLists lists;
  try {
    lists.class_files = data::read_bam_class_files(dir / ("sub_class_file_list_" + fold + ".txt"));
    for (const auto& [image, label] : data::read_bam_data_list(dir / ("data_list_" + fold + ".txt"))) {
      const data::Sample* smp = find_sample(samples, image, bench);
      if (!smp)
        throw std::invalid_argument("the dataset has no sample of image '" + std::filesystem::path(image).stem().string() +
                                    "' (" + image +
                                    "); BAM draws any novel class present in a query, so open " + ds.kind() +
                                    " with every val pair: no split_dir, options = { min_pixels = 1 }");
      const auto hist = data::label_histogram(data::read_label_png(smp->mask_path));
      data::BamListItem item{image, label, {}};
      for (const auto& c : ds.classes())
        if (hist[std::size_t(c.id)] > 0) item.novel_classes.push_back(c.id);
      lists.data_list.push_back(std::move(item));
    }
  } catch (const std::exception& e) {
    throw ConfigError(where + ": [evaluation] protocol \"" + name + "\": " + e.what());
  }
  return lists;
}

}  // namespace

std::vector<data::Episode> bam_episodes(const Pipeline& p, const data::Dataset& ds) {
  const SamplesByStem samples = samples_by_stem(ds);
  const data::BamLists lists = bam_lists(p, ds, samples);
  const std::string bench = bam_benchmark(ds.kind());
  std::vector<data::Episode> out;
  try {
    const data::BamFamilySettings cfg = bam_settings(p);
    auto name_of = [&](const std::string& path) {  // BAM's image paths -> difss sample names
      const data::Sample* smp = find_sample(samples, path, bench);
      if (!smp) throw std::invalid_argument("the dataset has no sample of image '" + path + "'");
      return smp->name;
    };
    for (std::uint32_t seed : bam_seeds(p)) {
      const int shots = p.dataset.shots;
      auto named = cfg.max_passes
                       ? data::cyctr_test_episodes(lists, shots, seed, cfg.workers, p.dataset.episodes, cfg.test_num)
                       : data::bam_test_episodes(lists, shots, seed, cfg.workers,
                                                 p.dataset.episodes ? p.dataset.episodes : cfg.episodes);
      for (auto& e : named) {
        e.query = name_of(e.query);
        for (auto& s : e.supports) s = name_of(s);
      }
      for (auto& e : data::to_dataset_episodes(ds, named)) {
        e.index = out.size();
        out.push_back(std::move(e));
      }
    }
  } catch (const std::exception& e) {
    throw ConfigError(p.where("evaluation", "protocol") + ": [evaluation] protocol \"" + p.evaluation.protocol +
                      "\": " + e.what());
  }
  return out;
}

}  // namespace detail

nlohmann::json per_seed_metrics(const Pipeline& p, const data::Dataset& ds,
                                const std::map<std::size_t, nlohmann::json>& records,
                                const std::vector<data::Episode>& episodes) {
  const ProtocolBundle& b = protocol_bundle(p.evaluation.protocol);
  if (b.sampler != "bam" || !p.dataset.episodes_file.empty()) return nullptr;
  const std::vector<std::uint32_t> seeds = detail::bam_seeds(p);
  const std::size_t per_seed = episodes.size() / seeds.size();
  nlohmann::json out = {{"seeds", seeds}, {"episodes_per_seed", per_seed}};
  for (const char* which : {"real", "aux"}) {
    nlohmann::json rows = nlohmann::json::array();
    double sum_miou = 0, sum_fbiou = 0, best_miou = -1, best_fbiou = -1;
    for (std::size_t k = 0; k < seeds.size(); ++k) {
      data::IoUAccumulator acc(ds.class_ids());
      for (std::size_t i = k * per_seed; i < (k + 1) * per_seed; ++i) {
        const auto found = records.find(episodes[i].index);
        if (found == records.end() || !found->second.contains(which)) continue;
        const nlohmann::json& rec = found->second;
        const auto& c = rec[which];
        data::IoUCounts counts;
        counts.inter[0] = c.at("inter_bg");
        counts.uni[0] = c.at("union_bg");
        counts.inter[1] = c.at("inter_fg");
        counts.uni[1] = c.at("union_fg");
        acc.add_counts(episodes[i].class_id, counts);
      }
      if (acc.episodes() == 0) break;
      std::uint64_t inter = 0, uni = 0;  // BAM's pIoU: the foreground IoU of all the seed's counts
      for (const auto& r : acc.per_class()) inter += r.counts.inter[1], uni += r.counts.uni[1];
      rows.push_back({{"seed", seeds[k]}, {"miou", acc.miou()}, {"fbiou", acc.fbiou()},
                      {"piou", uni ? double(inter) / double(uni) : 0.0}, {"episodes", acc.episodes()}});
      sum_miou += acc.miou();
      sum_fbiou += acc.fbiou();
      best_miou = std::max(best_miou, acc.miou());
      best_fbiou = std::max(best_fbiou, acc.fbiou());
    }
    if (rows.size() != seeds.size()) continue;
    const double n = double(seeds.size());
    out[which == std::string("real") ? "real_only" : "with_aux"] = {
        {"per_seed", rows}, {"mean_miou", sum_miou / n}, {"mean_fbiou", sum_fbiou / n},
        {"best_miou", best_miou}, {"best_fbiou", best_fbiou}};
  }
  return out;
}

void print_per_seed(const nlohmann::json& per_seed) {
  if (!per_seed.is_object() || !per_seed.contains("seeds")) return;
  const bool aux = per_seed.contains("with_aux");
  const bool real = per_seed.contains("real_only");
  if (!aux && !real) return;
  std::printf("\nper seed (%llu episodes each; the BAM-family papers report the mean):\n",
              (unsigned long long)per_seed.value("episodes_per_seed", std::uint64_t(0)));
  std::printf("%-10s", "seed");
  if (real) std::printf(" %14s %12s", "real mIoU", "real FB-IoU");
  if (aux) std::printf(" %14s %12s", "+aux mIoU", "+aux FB-IoU");
  std::printf("\n");
  auto cell = [](const nlohmann::json& v) { return v.get<double>() * 100; };
  const std::size_t n = per_seed["seeds"].size();
  for (std::size_t k = 0; k < n; ++k) {
    std::printf("%-10llu", (unsigned long long)per_seed["seeds"][k].get<std::uint64_t>());
    if (real) std::printf(" %14.2f %12.2f", cell(per_seed["real_only"]["per_seed"][k]["miou"]), cell(per_seed["real_only"]["per_seed"][k]["fbiou"]));
    if (aux) std::printf(" %14.2f %12.2f", cell(per_seed["with_aux"]["per_seed"][k]["miou"]), cell(per_seed["with_aux"]["per_seed"][k]["fbiou"]));
    std::printf("\n");
  }
  for (const char* stat : {"mean", "best"}) {
    std::printf("%-10s", stat);
    const std::string m = std::string(stat) + "_miou", f = std::string(stat) + "_fbiou";
    if (real) std::printf(" %14.2f %12.2f", cell(per_seed["real_only"][m]), cell(per_seed["real_only"][f]));
    if (aux) std::printf(" %14.2f %12.2f", cell(per_seed["with_aux"][m]), cell(per_seed["with_aux"][f]));
    std::printf("\n");
  }
}

}  // namespace difss

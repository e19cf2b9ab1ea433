// HSNet's test episode sequences (juhongm999/hsnet data/{pascal,coco,fss}.py); see protocols.hpp.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#include "difss/data/dataset.hpp"
#include "difss/data/protocols.hpp"
#include "difss/data/reference_rng.hpp"

namespace difss::data {

namespace {

constexpr std::size_t kHsnetEpisodes = 1000;  // __len__ of PASCAL / COCO for testing
constexpr int kFssImagesPerClass = 10;        // sample_episode draws from range(1, 11)

void check_shots(int shots) {
  if (shots < 1) throw std::invalid_argument("HSNet protocol: shots must be >= 1, got " + std::to_string(shots));
}

// HSNet's support loop: draw `np.random.choice(population, 1, replace=False)[0]` and keep it
// unless it equals the query, until `shots` are kept.
template <typename NameOf>
std::vector<std::string> draw_supports(NumpyRandomState& rng, std::size_t population, const NameOf& name_of,
                                       const std::string& query, int shots, const std::string& what) {
  bool any_other = false;
  for (std::size_t i = 0; i < population && !any_other; ++i) any_other = name_of(i) != query;
  if (!any_other)
    throw std::invalid_argument("HSNet protocol: " + what + " has no image other than the query " + query +
                                " (HSNet's support loop would never end)");
  std::vector<std::string> supports;
  while (supports.size() < static_cast<std::size_t>(shots)) {
    std::string name = name_of(rng.choice_one_without_replacement(population));
    if (name != query) supports.push_back(std::move(name));
  }
  return supports;
}

}  // namespace

HsnetBenchmark parse_hsnet_benchmark(std::string_view name) {
  if (name == "pascal" || name == "pascal5i") return HsnetBenchmark::pascal;
  if (name == "coco" || name == "coco20i") return HsnetBenchmark::coco;
  if (name == "fss" || name == "fss1000") return HsnetBenchmark::fss;
  throw std::invalid_argument("unknown HSNet benchmark '" + std::string(name) +
                              "' (expected pascal | pascal5i, coco | coco20i, fss | fss1000)");
}

const char* to_string(HsnetBenchmark benchmark) {
  switch (benchmark) {
    case HsnetBenchmark::pascal: return "pascal";
    case HsnetBenchmark::coco: return "coco";
    case HsnetBenchmark::fss: return "fss";
  }
  return "?";
}

std::size_t hsnet_test_episode_count(HsnetBenchmark benchmark, std::size_t fss_classes) {
  return benchmark == HsnetBenchmark::fss ? fss_classes * kFssImagesPerClass : kHsnetEpisodes;
}

std::vector<NamedEpisode> hsnet_pascal_test_episodes(const std::vector<ImageClassPair>& val_list, int shots,
                                                     std::uint32_t seed, std::size_t count) {
  check_shots(shots);
  if (val_list.empty()) throw std::invalid_argument("HSNet PASCAL protocol: the val list is empty");
  std::map<int, std::vector<std::string>> classwise;  // img_metadata_classwise, in list order
  for (const auto& p : val_list) classwise[p.class_id].push_back(p.image);
  NumpyRandomState rng(seed);
  std::vector<NamedEpisode> out(count ? count : kHsnetEpisodes);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const ImageClassPair& q = val_list[i % val_list.size()];  // idx %= len(img_metadata)
    const auto& names = classwise[q.class_id];
    out[i].class_id = q.class_id;
    out[i].query = q.image;
    out[i].supports = draw_supports(rng, names.size(), [&](std::size_t k) { return names[k]; }, q.image, shots,
                                    "PASCAL class " + std::to_string(q.class_id));
  }
  return out;
}

std::vector<NamedEpisode> hsnet_coco_test_episodes(
    const std::vector<std::pair<int, std::vector<std::string>>>& classwise, int fold, int shots,
    std::uint32_t seed, std::size_t count) {
  check_shots(shots);
  if (fold < 0 || fold > 3) throw std::invalid_argument("HSNet COCO protocol: fold must be 0..3, got " + std::to_string(fold));
  // build_class_ids: class_ids_val = [fold + 4 * v for v in range(20)] (0-based).
  std::vector<const std::vector<std::string>*> lists;
  for (int v = 0; v < 20; ++v) {
    const int key = fold + 4 * v;
    auto it = std::find_if(classwise.begin(), classwise.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == classwise.end() || it->second.empty())
      throw std::invalid_argument("HSNet COCO protocol: fold " + std::to_string(fold) + " has no images of class " +
                                  std::to_string(key) + " (0-based) in the split list");
    lists.push_back(&it->second);
  }
  NumpyRandomState rng(seed);
  std::vector<NamedEpisode> out(count ? count : kHsnetEpisodes);
  for (auto& e : out) {
    const std::size_t c = rng.choice_one_without_replacement(lists.size());
    const auto& names = *lists[c];
    e.class_id = fold + 4 * static_cast<int>(c) + 1;
    e.query = names[rng.choice_one_without_replacement(names.size())];
    e.supports = draw_supports(rng, names.size(), [&](std::size_t k) { return names[k]; }, e.query, shots,
                               "COCO class " + std::to_string(e.class_id));
  }
  return out;
}

std::vector<NamedEpisode> hsnet_fss_episodes(std::vector<std::string> categories, int shots, const std::string& split,
                                             std::uint32_t seed, std::size_t count) {
  check_shots(shots);
  int first_id = 0;
  if (split == "trn") first_id = 1;
  else if (split == "val") first_id = 521;
  else if (split == "test") first_id = 761;
  else throw std::invalid_argument("HSNet FSS-1000 protocol: split must be trn | val | test, got '" + split + "'");
  if (categories.empty()) throw std::invalid_argument("HSNet FSS-1000 protocol: the class list is empty");
  std::sort(categories.begin(), categories.end());  // self.categories = sorted(...)
  // Queries: sorted(glob(class/*)) keeping .jpg files: "1.jpg" < "10.jpg" < "2.jpg" < ...
  std::vector<std::string> files;
  for (int n = 1; n <= kFssImagesPerClass; ++n) files.push_back(std::to_string(n) + ".jpg");
  std::sort(files.begin(), files.end());
  const std::size_t total = categories.size() * files.size();
  if (count > total)
    throw std::invalid_argument("HSNet FSS-1000 protocol: " + std::to_string(count) + " episodes requested, the " +
                                split + " split has " + std::to_string(total));
  NumpyRandomState rng(seed);
  std::vector<NamedEpisode> out(count ? count : total);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::string& cls = categories[i / files.size()];
    out[i].class_id = first_id + static_cast<int>(i / files.size());
    out[i].query = cls + "/" + files[i % files.size()];
    out[i].supports = draw_supports(
        rng, kFssImagesPerClass, [&](std::size_t k) { return cls + "/" + std::to_string(k + 1) + ".jpg"; },
        out[i].query, shots, "FSS-1000 class " + cls);
  }
  return out;
}

std::vector<NamedEpisode> hsnet_test_episodes(HsnetBenchmark benchmark, const std::filesystem::path& split_dir,
                                              int fold, int shots, std::uint32_t seed, std::size_t count) {
  namespace fs = std::filesystem;
  auto require = [&](const fs::path& p) {
    if (!fs::is_regular_file(p))
      throw std::invalid_argument("HSNet protocol: missing split list " + p.string() +
                                  " (split_dir must be HSNet's data/splits folder, holding pascal/, coco/, fss/)");
    return p;
  };
  const std::string fold_name = "fold" + std::to_string(fold);
  switch (benchmark) {
    case HsnetBenchmark::pascal:
      if (fold < 0 || fold > 3) throw std::invalid_argument("HSNet PASCAL protocol: fold must be 0..3, got " + std::to_string(fold));
      return hsnet_pascal_test_episodes(read_hsnet_pascal_list(require(split_dir / "pascal/val" / (fold_name + ".txt"))),
                                        shots, seed, count);
    case HsnetBenchmark::coco: {
      const fs::path pkl = split_dir / "coco/val" / (fold_name + ".pkl");
      const fs::path list = fs::exists(pkl) ? pkl : require(split_dir / "coco/val" / (fold_name + ".txt"));
      return hsnet_coco_test_episodes(read_hsnet_coco_split(list), fold, shots, seed, count);
    }
    case HsnetBenchmark::fss:
      return hsnet_fss_episodes(read_lines(require(split_dir / "fss/test.txt")), shots, "test", seed, count);
  }
  throw std::logic_error("hsnet_test_episodes: unknown benchmark");
}

std::string hsnet_sample_name(std::string_view hsnet_name) {
  constexpr std::string_view jpg = ".jpg";
  if (hsnet_name.size() > jpg.size() && hsnet_name.substr(hsnet_name.size() - jpg.size()) == jpg)
    hsnet_name.remove_suffix(jpg.size());
  return std::string(hsnet_name);
}

std::vector<Episode> to_dataset_episodes(const Dataset& dataset, const std::vector<NamedEpisode>& episodes) {
  std::map<std::pair<int, std::string>, std::size_t> index;
  const auto& samples = dataset.samples();
  for (std::size_t i = 0; i < samples.size(); ++i) index.emplace(std::make_pair(samples[i].class_id, samples[i].name), i);
  std::vector<Episode> out;
  out.reserve(episodes.size());
  for (std::size_t i = 0; i < episodes.size(); ++i) {
    const NamedEpisode& e = episodes[i];
    auto find = [&](const std::string& name) {
      auto it = index.find({e.class_id, hsnet_sample_name(name)});
      if (it == index.end())
        throw std::invalid_argument("episode " + std::to_string(i) + ": the dataset (" + dataset.kind() +
                                    ") has no sample '" + hsnet_sample_name(name) + "' of class " +
                                    std::to_string(e.class_id));
      return it->second;
    };
    Episode ep;
    ep.index = i;
    ep.class_id = e.class_id;
    ep.query = find(e.query);
    for (const auto& s : e.supports) ep.supports.push_back(find(s));
    out.push_back(std::move(ep));
  }
  return out;
}

std::string canonical_text(const std::vector<NamedEpisode>& episodes) {
  std::string text;
  for (const auto& e : episodes) {
    text += std::to_string(e.class_id) + '\t' + e.query + '\t';
    for (std::size_t k = 0; k < e.supports.size(); ++k) text += (k ? ";" : "") + e.supports[k];
    text += '\n';
  }
  return text;
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace difss::data

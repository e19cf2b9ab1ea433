// BAM's test episode sequences (chunbolang/BAM test.py, util/dataset.py); see protocols.hpp.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "difss/data/protocols.hpp"
#include "difss/data/reference_rng.hpp"

namespace difss::data {

namespace {

constexpr std::size_t kBamEpisodes = 1000;  // test_num in validate()

// SemData.__getitem__ in 'val' mode, drawing from `r`.
NamedEpisode bam_episode(const BamLists& lists, std::size_t index, int shots, PythonRandom& r) {
  const BamListItem& q = lists.data_list[index];
  if (q.novel_classes.empty())
    throw std::invalid_argument("BAM protocol: list entry " + std::to_string(index) + " (" + q.image +
                                ") has no novel class in its label (BAM asserts len(label_class) > 0)");
  NamedEpisode e;
  e.class_id = q.novel_classes[static_cast<std::size_t>(r.randint(1, static_cast<std::int64_t>(q.novel_classes.size())) - 1)];
  e.query = q.image;
  auto it = lists.class_files.find(e.class_id);
  if (it == lists.class_files.end() || it->second.empty())
    throw std::invalid_argument("BAM protocol: class " + std::to_string(e.class_id) +
                                " has no entry in the sub_class_file_list");
  const auto& files = it->second;
  const auto n = static_cast<std::int64_t>(files.size());
  std::size_t usable = 0;  // entries other than the query: BAM's loop needs `shots` of them
  for (const auto& f : files) usable += !(f.first == q.image && f.second == q.label);
  if (usable < static_cast<std::size_t>(shots))
    throw std::invalid_argument("BAM protocol: class " + std::to_string(e.class_id) + " has " + std::to_string(usable) +
                                " support candidate(s) besides the query " + q.image + "; " + std::to_string(shots) +
                                " are needed (BAM's support loop would never end)");
  std::vector<std::int64_t> chosen;
  for (int k = 0; k < shots; ++k) {
    std::int64_t idx = r.randint(1, n) - 1;
    std::pair<std::string, std::string> path{q.image, q.label};
    while ((path.first == q.image && path.second == q.label) ||
           std::find(chosen.begin(), chosen.end(), idx) != chosen.end()) {
      idx = r.randint(1, n) - 1;
      path = files[static_cast<std::size_t>(idx)];
    }
    chosen.push_back(idx);
    e.supports.push_back(path.first);
  }
  return e;
}

[[noreturn]] void list_error(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error("BAM list '" + path.string() + "': " + what);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) list_error(path, "cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::uint32_t> bam_test_seeds(std::uint32_t manual_seed, std::size_t count) {
  NumpyRandomState rng(manual_seed);
  std::vector<std::uint32_t> seeds;
  for (std::size_t i = 0; i < count; ++i) seeds.push_back(static_cast<std::uint32_t>(rng.randint(0, 1000)));
  return seeds;
}

std::vector<NamedEpisode> bam_test_episodes(const BamLists& lists, int shots, std::uint32_t seed, int workers,
                                            std::size_t count, std::size_t max_passes) {
  if (shots < 1) throw std::invalid_argument("BAM protocol: shots must be >= 1, got " + std::to_string(shots));
  if (workers < 0) throw std::invalid_argument("BAM protocol: workers must be >= 0");
  const std::size_t len = lists.data_list.size();
  if (len < 2) throw std::invalid_argument("BAM protocol: the data list needs at least 2 entries");
  const std::size_t total = count ? count : kBamEpisodes;
  // setup_seed(seed): torch, numpy and Python's random in the main process.
  TorchCpuGenerator torch_gen(seed);
  PythonRandom main_random(seed);
  std::vector<PythonRandom> worker_random(static_cast<std::size_t>(workers));
  std::vector<NamedEpisode> out;
  out.reserve(total);
  // db_epoch = ceil(test_num / (len(val_loader) - batch_size_val)) passes, each a new iterator
  // (CyCTR: at most 20).
  for (std::size_t pass = 0; out.size() < total && (max_passes == 0 || pass < max_passes); ++pass) {
    const auto base_seed = static_cast<std::uint64_t>(torch_gen.random_int64());
    for (int w = 0; w < workers; ++w) worker_random[static_cast<std::size_t>(w)].seed_uint64(base_seed + static_cast<std::uint64_t>(w));
    for (std::size_t i = 0; i < len && out.size() < total; ++i) {
      PythonRandom& r = workers ? worker_random[i % static_cast<std::size_t>(workers)] : main_random;
      out.push_back(bam_episode(lists, i, shots, r));
    }
  }
  return out;
}

std::vector<NamedEpisode> cyctr_test_episodes(const BamLists& lists, int shots, std::uint32_t seed, int workers,
                                              std::size_t count, std::size_t test_num) {
  const std::size_t episodes = test_num + 1;  // the (iter_num - 1) break test lets one more through
  if (count > episodes)
    throw std::invalid_argument("CyCTR protocol: test.py evaluates " + std::to_string(episodes) + " episodes; " +
                                std::to_string(count) + " were asked for (use a prefix, or protocol = \"bam\")");
  return bam_test_episodes(lists, shots, seed, workers, count ? count : episodes, kCyctrPasses);
}

BamFamilySettings bam_family_settings(const std::string& protocol, const std::string& benchmark) {
  const bool coco = benchmark == "coco";
  if (!coco && benchmark != "pascal")
    throw std::invalid_argument("the BAM-family protocols have test settings for pascal and coco, not '" + benchmark + "'");
  BamFamilySettings s;
  if (protocol == "bam") {  // BAM test.py l.36-39, 193-198; config/{pascal,coco}/*.yaml workers 8, val_size 473 / 641
    s = {kBamEpisodes, 5, 0, 8, coco ? 641 : 473, 0, kBamEpisodes};
  } else if (protocol == "hdmnet") {  // HDMNet test.py l.35-38 (val_num 10), l.192-197 (COCO test_num 10000); val_size 473 / 633
    const std::size_t n = coco ? 10000 : kBamEpisodes;
    s = {n, 10, 0, 8, coco ? 633 : 473, 0, n};
  } else if (protocol == "cyctr") {  // CyCTR config/coco: manual_seed 321, workers 16, val_size 473; test.py test_num 5000
    const std::size_t test_num = coco ? 5000 : 1000;
    s = {test_num + 1, 0, coco ? 321u : kCyctrSeed, coco ? 16 : 8, 473, kCyctrPasses, test_num};
  } else {
    throw std::invalid_argument("'" + protocol + "' is not a BAM-family protocol (bam, hdmnet, cyctr)");
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> read_bam_data_list(const std::filesystem::path& path) {
  std::istringstream in(read_all(path));
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty()) continue;
    const auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || line.find(' ', sp + 1) != std::string::npos)
      list_error(path, "line " + std::to_string(n) + ": expected \"IMAGE LABEL\", got \"" + line + "\"");
    out.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  if (out.empty()) list_error(path, "no entries");
  return out;
}

std::map<int, std::vector<std::pair<std::string, std::string>>> read_bam_class_files(const std::filesystem::path& path) {
  // {1: [['a.jpg', 'a.png'], ...], 2: [...]}: integer keys, then the quoted strings up to the
  // next key, taken in pairs. Nothing is evaluated.
  const std::string text = read_all(path);
  std::map<int, std::vector<std::pair<std::string, std::string>>> out;
  std::vector<std::string> strings;
  int key = 0;
  bool have_key = false;
  auto flush = [&] {
    if (!have_key) return;
    if (strings.size() % 2) list_error(path, "class " + std::to_string(key) + ": an odd number of paths");
    auto& files = out[key];
    for (std::size_t k = 0; k < strings.size(); k += 2) files.emplace_back(strings[k], strings[k + 1]);
    strings.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\'' || c == '"') {
      const auto end = text.find(c, i + 1);
      if (end == std::string::npos) list_error(path, "an unterminated string");
      if (!have_key) list_error(path, "a path before the first class key");
      strings.push_back(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      std::size_t k = j;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k >= text.size() || text[k] != ':') list_error(path, "expected ':' after the class " + text.substr(i, j - i));
      flush();
      key = std::stoi(text.substr(i, j - i));
      have_key = true;
      i = k + 1;
    } else {
      ++i;
    }
  }
  flush();
  if (out.empty()) list_error(path, "no classes");
  return out;
}

}  // namespace difss::data

// Official evaluation protocols, episode for episode.
//
// HSNet (juhongm999/hsnet, commit 6b1bc12): test.py calls utils.fix_randseed(0) (np.random.seed
// and torch.manual_seed) and then iterates a DataLoader with shuffle=False and no workers
// (data/dataset.py forces both for the test split), so the episodes are the datasets'
// __getitem__(0), (1), ... drawing from numpy's global legacy RandomState; torch's generator
// draws nothing that affects them. Per episode:
//   PASCAL-5i (data/pascal.py) query = val list[i % n] (1000 episodes), supports: repeat
//     `np.random.choice(class list, 1, replace=False)` until `shots` differ from the query;
//   COCO-20i (data/coco.py) class = choice(fold classes), query = choice(class list), supports
//     as above (1000 episodes);
//   FSS-1000 (data/fss.py) queries = every class's images in sorted-path order (2400 episodes
//     on the 240 test classes), supports: choice(range(1, 11)) until they differ from the query.
// Each `choice(..., 1, replace=False)` shuffles the whole population (numpy's legacy algorithm),
// which NumpyRandomState reproduces. See core/data/README.md "Protocols".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "difss/data/episodes.hpp"
#include "difss/data/splits.hpp"

namespace difss::data {

class Dataset;

// One episode with the names as the official code spells them.
struct NamedEpisode {
  int class_id = 0;                   // 1-based (HSNet's batch['class_id'] + 1)
  std::string query;                  // PASCAL "2007_000033"; COCO "val2014/COCO_val2014_...jpg";
  std::vector<std::string> supports;  // FSS-1000 "<class>/<N>.jpg"
  bool operator==(const NamedEpisode& o) const {
    return class_id == o.class_id && query == o.query && supports == o.supports;
  }
};

enum class HsnetBenchmark { pascal, coco, fss };
// "pascal" | "pascal5i", "coco" | "coco20i", "fss" | "fss1000"; anything else throws, listing them.
HsnetBenchmark parse_hsnet_benchmark(std::string_view name);
const char* to_string(HsnetBenchmark benchmark);

// HSNet's number of test episodes: 1000 for PASCAL and COCO; for FSS-1000, 10 per class.
std::size_t hsnet_test_episode_count(HsnetBenchmark benchmark, std::size_t fss_classes = 240);

// The episodes HSNet's test.py evaluates, from split lists already read. `seed` is what
// utils.fix_randseed receives (test.py: 0); `count` 0 means HSNet's count, a smaller count gives
// a prefix of the same sequence. Throws std::invalid_argument when a class cannot supply a
// support different from the query (HSNet would loop forever) or a list is empty.
//   val_list: HSNet's pascal/val/fold<k>.txt in file order (read_hsnet_pascal_list).
std::vector<NamedEpisode> hsnet_pascal_test_episodes(const std::vector<ImageClassPair>& val_list,
                                                     int shots, std::uint32_t seed = 0,
                                                     std::size_t count = 0);
//   classwise: HSNet's coco/val/fold<k>.pkl as read by read_hsnet_coco_split (0-based keys).
std::vector<NamedEpisode> hsnet_coco_test_episodes(
    const std::vector<std::pair<int, std::vector<std::string>>>& classwise, int fold, int shots,
    std::uint32_t seed = 0, std::size_t count = 0);
//   categories: HSNet's fss/<split>.txt (any order: HSNet sorts them); split "test" (class ids
//   761..1000), "val" (521..760) or "trn" (1..520). Every class is assumed to hold FSS-1000's
//   images 1.jpg .. 10.jpg (HSNet lists the queries from disk but draws supports from 1..10).
std::vector<NamedEpisode> hsnet_fss_episodes(std::vector<std::string> categories, int shots,
                                             const std::string& split = "test",
                                             std::uint32_t seed = 0, std::size_t count = 0);

// All of the above from a copy of HSNet's data/splits folder (holding pascal/, coco/, fss/):
// pascal/val/fold<k>.txt, coco/val/fold<k>.pkl (or the .txt conversion), fss/test.txt.
std::vector<NamedEpisode> hsnet_test_episodes(HsnetBenchmark benchmark,
                                              const std::filesystem::path& split_dir, int fold,
                                              int shots, std::uint32_t seed = 0,
                                              std::size_t count = 0);

// HSNet's name -> difss Sample::name: PASCAL unchanged, COCO and FSS-1000 without ".jpg".
std::string hsnet_sample_name(std::string_view hsnet_name);

// The same episodes as indices into `dataset.samples()` (found by name and class), ready for the
// runner. Throws naming the episode and the name when the dataset lacks a sample.
std::vector<Episode> to_dataset_episodes(const Dataset& dataset,
                                         const std::vector<NamedEpisode>& episodes);

// BAM (chunbolang/BAM @ c0f935c, test.py + util/dataset.py SemData in 'val' mode). test.py seeds
// with setup_seed(123) and draws its evaluation seeds with np.random.randint(0, 1000, val_num)
// (5; HDMNet: 10). For each seed, setup_seed(seed) then 1000 episodes from a DataLoader without
// shuffling, cycled over the data list (db_epoch passes). Episode `index` is data_list[index]:
//   class  = label_class[random.randint(1, len(label_class)) - 1], label_class = the novel classes
//            present in the query's label (np.unique order: ascending);
//   supports: `shots` times { idx = randint(1, n) - 1 redrawn while it is the query or already
//            chosen } over sub_class_file_list[class] (n entries); the first draw is always redrawn.
// `random` is Python's, and with `workers` > 0 (the configs: 8) each DataLoader worker w has its own,
// seeded base_seed + w, base_seed = an int64 torch draws from its generator (seeded with the
// evaluation seed) at every pass; with 0 workers the main process's, seeded once with the seed.
// The model receives the supports in reverse order (SemData concatenates each new one in front).
struct BamListItem {
  std::string image, label;       // as data_list_<split>.txt spells them
  std::vector<int> novel_classes; // the novel classes present in the label, ascending
};
struct BamLists {
  std::vector<BamListItem> data_list;  // file order
  // sub_class_file_list_<split>.txt: class -> (image, label) entries, in file order
  std::map<int, std::vector<std::pair<std::string, std::string>>> class_files;
};
// np.random.seed(manual_seed); np.random.randint(0, 1000, count).
std::vector<std::uint32_t> bam_test_seeds(std::uint32_t manual_seed = 123, std::size_t count = 5);
// The episodes of one evaluation seed; NamedEpisode::query / supports are the image paths as the
// lists spell them, class_id the chosen class. `count` 0 means BAM's 1000; `max_passes` > 0 stops
// after that many passes over the data list even if fewer than `count` episodes were drawn.
std::vector<NamedEpisode> bam_test_episodes(const BamLists& lists, int shots, std::uint32_t seed,
                                            int workers = 8, std::size_t count = 0, std::size_t max_passes = 0);

// CyCTR (YanFangCS/CyCTR-Pytorch @ 1a06183, test.py + util/dataset.py): PFENet's SemData, the same
// draws as BAM's, in one evaluation: main() and validate() seed torch, numpy and Python's random
// with manual_seed (123 in config/pascal/*.yaml, 321 in config/coco/*.yaml), the val loader has
// `workers` workers (8; COCO 16) and no worker_init_fn, and validate() loops `for e in range(20)`
// over it with the test `if (iter_num - 1) * batch_size_val >= test_num: break` before counting, so
// test_num = 1000 (COCO 5000) lets 1001 (5001) episodes through, and a list shorter than
// test_num / 20 + 1 entries gives 20 passes' worth.
constexpr std::uint32_t kCyctrSeed = 123;
constexpr std::size_t kCyctrEpisodes = 1001;
constexpr std::size_t kCyctrPasses = 20;
// bam_test_episodes with CyCTR's episode count (`count` 0: test_num + 1) and pass limit.
std::vector<NamedEpisode> cyctr_test_episodes(const BamLists& lists, int shots, std::uint32_t seed = kCyctrSeed,
                                              int workers = 8, std::size_t count = 0, std::size_t test_num = 1000);

// What each BAM-family test script and config fix, per benchmark ("pascal" or "coco", the
// latter with use_split_coco: True, whose val classes of split k are k+1, k+5, ..., k+77 =
// coco20i's fold k). Throws std::invalid_argument for another protocol or benchmark.
struct BamFamilySettings {
  std::size_t episodes = 0;        // per evaluation seed, as validate() counts them
  std::size_t seed_count = 0;      // val_num (BAM 5, HDMNet 10); 0: one seed, manual_seed (CyCTR)
  std::uint32_t manual_seed = 0;   // CyCTR's manual_seed
  int workers = 0;                 // the val DataLoader's num_workers
  int val_size = 0;                // the input resize (BAM/CyCTR: long side; HDMNet: square stretch)
  std::size_t max_passes = 0;      // CyCTR's `for e in range(20)`; 0: none
  std::size_t test_num = 0;        // test.py's test_num
};
BamFamilySettings bam_family_settings(const std::string& protocol, const std::string& benchmark);
// The two list files: "IMAGE LABEL" lines, and the Python dict literal {class: [[image, label], ...]}
// (read, never evaluated). Throw naming the file and what is wrong.
std::vector<std::pair<std::string, std::string>> read_bam_data_list(const std::filesystem::path& path);
std::map<int, std::vector<std::pair<std::string, std::string>>> read_bam_class_files(
    const std::filesystem::path& path);

// "class\tquery\tsupport;support\n" per episode, and FNV-1a 64 of it: how the committed
// reference sequences fingerprint a whole list.
std::string canonical_text(const std::vector<NamedEpisode>& episodes);
std::uint64_t fnv1a64(std::string_view bytes);

}  // namespace difss::data

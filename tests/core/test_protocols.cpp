// [evaluation] protocol through difss-host: with protocol = "hsnet" and seed 0 the episodes a run
// writes (episodes/NNNNNN.json) are HSNet test.py's, checked against the sequences dumped from the
// official code (core/data/tests/data/hsnet_episodes) on dataset folders of tiny stand-in images
// made here from HSNet's split lists; the resolved bundle in results.json; episodes_file; bam and
// cyctr runs on BAM's stand-in lists against the sequences dumped from BAM's and CyCTR's code; bam,
// hdmnet and cyctr on a coco20i stand-in against the sequences dumped from their COCO code paths.
#include <difss/data/protocols.hpp>
#include <difss/data/splits.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include "shared_data.hpp"
#include "test_helpers.hpp"

using namespace difss::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kSplits = "ref/hsnet-splits";

json read(const fs::path& f) {
  std::ifstream in(f);
  return json::parse(in);
}

std::string plugins() { return std::string("--plugin-path ") + DIFSS_TEST_PLUGIN_DIR + " "; }

void write_bytes(const fs::path& p, const std::vector<uchar>& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<uchar> encoded(const std::string& ext, const cv::Mat& m) {
  std::vector<uchar> out;
  REQUIRE(cv::imencode(ext, m, out));
  return out;
}

// An 8x8 grey label PNG whose first pixels hold the given labels (the rest 0).
std::vector<uchar> label_png(const std::set<int>& labels) {
  cv::Mat m(8, 8, CV_8UC1, cv::Scalar(0));
  int k = 0;
  for (int v : labels) m.ptr<uchar>()[k++ % 64] = uchar(v);
  return encoded(".png", m);
}

std::vector<uchar> standin_jpeg() { return encoded(".jpg", cv::Mat(8, 8, CV_8UC3, cv::Scalar(90, 120, 150))); }

// VOC2012/JPEGImages + SegmentationClassAug for every image of HSNet's four PASCAL val lists.
fs::path make_voc(const fs::path& root) {
  std::map<std::string, std::set<int>> labels;
  for (int f = 0; f < 4; ++f)
    for (const auto& p : difss::data::read_hsnet_pascal_list(shared_dir() / kSplits / "pascal/val" /
                                                              ("fold" + std::to_string(f) + ".txt")))
      labels[p.image].insert(p.class_id);
  const auto jpeg = standin_jpeg();
  const fs::path voc = root / "VOC2012";
  for (const auto& [id, cls] : labels) {
    write_bytes(voc / "JPEGImages" / (id + ".jpg"), jpeg);
    write_bytes(voc / "SegmentationClassAug" / (id + ".png"), label_png(cls));
  }
  return voc;
}

// COCO2014 val2014/ + annotations/val2014/ for every image of HSNet's COCO fold-0 val list.
fs::path make_coco_fold0(const fs::path& root) {
  std::map<std::string, std::set<int>> labels;
  for (const auto& [c0, images] : difss::data::read_hsnet_coco_split(shared_dir() / kSplits / "coco/val/fold0.txt"))
    for (const auto& rel : images) labels[rel].insert(c0 + 1);
  const auto jpeg = standin_jpeg();
  for (const auto& [rel, cls] : labels) {
    write_bytes(root / rel, jpeg);
    write_bytes(root / "annotations" / (rel.substr(0, rel.size() - 4) + ".png"), label_png(cls));
  }
  return root;
}

// FSS-1000/<class>/1..10.jpg + .png for the 240 test classes.
fs::path make_fss(const fs::path& root) {
  const auto jpeg = standin_jpeg();
  const auto png = encoded(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(255)));
  for (const auto& c : difss::data::read_lines(shared_dir() / kSplits / "fss/test.txt"))
    for (int n = 1; n <= 10; ++n) {
      write_bytes(root / "FSS-1000" / c / (std::to_string(n) + ".jpg"), jpeg);
      write_bytes(root / "FSS-1000" / c / (std::to_string(n) + ".png"), png);
    }
  return root;
}

std::string protocol_pipeline(const fs::path& out, const std::string& kind, const fs::path& root, int fold, int shots,
                              const std::string& extra = "") {
  return "[pipeline]\nname = \"proto\"\nthreads = 1\noutput = \"" + out.string() + "\"\n[dataset]\nkind = \"" + kind +
         "\"\nroot = \"" + root.string() + "\"\nsplit_dir = \"" + (shared_dir() / kSplits).string() +
         "\"\nsplit = \"" + (kind == "fss1000" ? "test" : "val") + "\"\nfold = " + std::to_string(fold) +
         "\nshots = " + std::to_string(shots) +
         "\n[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\nprotocol = \"hsnet\"\ngrids = 0\n" +
         extra;
}

// The name HSNet gives a difss sample name (COCO and FSS-1000 images keep their ".jpg").
std::string hsnet_name(const std::string& benchmark, const std::string& name) {
  return benchmark == "pascal" ? name : name + ".jpg";
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Runs the pipeline and compares every episodes/NNNNNN.json with the committed official sequence.
void check_run_against_reference(const TempDir& tmp, const std::string& kind, const fs::path& root,
                                 const std::string& ref_name) {
  const json ref = read(source_dir() / "core/data/tests/data/hsnet_episodes" / (ref_name + ".json"));
  const std::string bench = ref.at("benchmark");
  const int fold = ref.at("fold"), shots = ref.at("shots");
  INFO(ref_name);
  const fs::path out = tmp.path / ("run-" + ref_name);
  const auto p = tmp.write(ref_name + ".toml", protocol_pipeline(out, kind, root, fold, shots));
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  const std::size_t n = ref.at("episodes");
  std::vector<difss::data::NamedEpisode> ours;
  for (std::size_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.json", i);
    const json rec = read(out / "episodes" / name);
    difss::data::NamedEpisode e{rec.at("class_id"), hsnet_name(bench, rec.at("query")), {}};
    for (const auto& s : rec.at("supports")) e.supports.push_back(hsnet_name(bench, s.get<std::string>()));
    ours.push_back(std::move(e));
  }
  char extra[32];
  std::snprintf(extra, sizeof extra, "%06zu.json", n);
  CHECK_FALSE(fs::exists(out / "episodes" / extra));
  const json& first = ref.at("first");
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO("episode " << i);
    REQUIRE(ours[i] == (difss::data::NamedEpisode{first[i].at(0), first[i].at(1),
                                                    first[i].at(2).get<std::vector<std::string>>()}));
  }
  CHECK(hex64(difss::data::fnv1a64(difss::data::canonical_text(ours))) == ref.at("fnv1a64").get<std::string>());
  const json res = read(out / "results.json");
  CHECK(res["protocol"]["name"] == "hsnet");
  CHECK(res["protocol"]["sampler"] == "hsnet");
  CHECK(res["pipeline"]["evaluation"]["eval_size"] == "model_input");
  CHECK(res["counts"]["episodes"] == n);
  fs::remove_all(out);
}

}  // namespace

TEST_CASE("protocol hsnet: a PASCAL-5i run writes HSNet's episodes, every fold, 1 and 5 shots", "[slow][shared]") {
  DIFSS_REQUIRE_SHARED(kSplits);
  TempDir tmp;
  const fs::path voc = make_voc(tmp.path / "voc");
  for (int fold = 0; fold < 4; ++fold)
    for (int shots : {1, 5})
      check_run_against_reference(tmp, "pascal5i", voc,
                                  "pascal_fold" + std::to_string(fold) + "_" + std::to_string(shots) + "shot");
}

TEST_CASE("protocol hsnet: FSS-1000 (2400 episodes) and COCO-20i fold 0 runs write HSNet's episodes", "[slow][shared]") {
  DIFSS_REQUIRE_SHARED(kSplits);
  TempDir tmp;
  const fs::path fss = make_fss(tmp.path / "fss");
  for (const char* ref : {"fss_test_1shot", "fss_test_5shot"}) check_run_against_reference(tmp, "fss1000", fss, ref);
  const fs::path coco = make_coco_fold0(tmp.path / "coco");
  for (const char* ref : {"coco_fold0_1shot", "coco_fold0_5shot"}) check_run_against_reference(tmp, "coco20i", coco, ref);
}

TEST_CASE("protocol hsnet: the first PASCAL-5i episodes of a short run are HSNet's; bundle recorded", "[shared]") {
  DIFSS_REQUIRE_SHARED(kSplits);
  TempDir tmp;
  const fs::path voc = make_voc(tmp.path / "voc");
  const fs::path out = tmp.path / "out";
  // 40 episodes: a prefix of the 1000 (the key [dataset] episodes overrides the bundle's count).
  std::string text = protocol_pipeline(out, "pascal5i", voc, 2, 5, "input_size = 32\n");
  text.replace(text.find("shots = 5"), 9, "shots = 5\nepisodes = 40");
  const auto p = tmp.write("p.toml", text);
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  // The test segmenter predicts at the query's size: said once, then nearest-resized to 32 x 32.
  CHECK_THAT(r.output, Catch::Contains("not at input_size 32x32"));
  const json ref = read(source_dir() / "core/data/tests/data/hsnet_episodes/pascal_fold2_5shot.json");
  for (std::size_t i = 0; i < 40; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.json", i);
    const json rec = read(out / "episodes" / name);
    INFO("episode " << i);
    CHECK(rec["class_id"] == ref["first"][i][0]);
    CHECK(rec["query"] == ref["first"][i][1]);
    CHECK(rec["supports"] == ref["first"][i][2]);
  }
  CHECK_FALSE(fs::exists(out / "episodes/000040.json"));
  const json res = read(out / "results.json");
  const json& b = res["protocol"];
  CHECK(b["name"] == "hsnet");
  CHECK(b["episodes"] == 40);
  CHECK(b["eval_size"] == "model_input");
  CHECK(b["input_size"] == 32);
  CHECK(b["overridden"] == json::array({"input_size"}));
  CHECK(b["source"].get<std::string>().find("juhongm999/hsnet") != std::string::npos);
  // Scored at 32 x 32: predicting every pixel as object, the union is all 32 * 32 pixels (no
  // boundary pixels in the stand-ins).
  CHECK(read(out / "episodes/000000.json")["all_fg"]["union_fg"] == 32 * 32);
  const json list = read(out / "episodes.json");
  CHECK(list["protocol"] == "hsnet");
  CHECK(list["episodes"].size() == 40);
}

TEST_CASE("protocol hsnet refuses what HSNet's loader cannot do, naming the key") {
  TempDir tmp;
  auto synth = tmp.write("s.toml", "[pipeline]\noutput = \"" + (tmp.path / "o").string() +
                                       "\"\n[dataset]\nkind = \"synthetic\"\n[segmenter]\nplugin = "
                                       "\"org.difss.test.color-segmenter\"\n[evaluation]\nprotocol = \"hsnet\"\n");
  Exec r = run_host(plugins() + "--pipeline " + synth.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("protocol \"hsnet\"") && Catch::Contains("'synthetic'"));
  auto typo = tmp.write("t.toml", "[dataset]\nkind = \"synthetic\"\n[segmenter]\nplugin = \"x\"\n[evaluation]\nprotocol = \"hsnt\"\n");
  r = run_host("validate " + typo.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("did you mean 'hsnet'"));
}

TEST_CASE("episodes_file: a run evaluates the episodes another run wrote (JSON and text), same metrics") {
  TempDir tmp;
  auto pipeline = [&](const fs::path& out, const std::string& dataset_extra) {
    return "[pipeline]\nseed = 3\nthreads = 1\noutput = \"" + out.string() +
           "\"\n[dataset]\nkind = \"synthetic\"\nshots = 2\nepisodes = 9\n" + dataset_extra +
           "options = { classes = 3, images_per_class = 5, size = 32 }\n"
           "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\ngrids = 0\n";
  };
  // Runs `name`.toml and returns the episode list it wrote.
  auto run_ok = [&](const std::string& name, const std::string& text) {
    const auto file = tmp.write(name + ".toml", text);
    Exec r = run_host(plugins() + "--pipeline " + file.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return read(tmp.path / name / "episodes.json");
  };
  const json first = run_ok("a", pipeline(tmp.path / "a", ""));
  // The same episodes from the first run's list, under another seed that would draw others.
  auto b_text = pipeline(tmp.path / "b", "episodes_file = \"a/episodes.json\"\n");
  b_text.replace(b_text.find("seed = 3"), 8, "seed = 77");
  b_text.replace(b_text.find("episodes = 9\n"), 13, "");
  const json second = run_ok("b", b_text);
  REQUIRE(second["episodes"].size() == 9);
  for (std::size_t i = 0; i < 9; ++i) {
    CHECK(second["episodes"][i]["query_name"] == first["episodes"][i]["query_name"]);
    CHECK(second["episodes"][i]["support_names"] == first["episodes"][i]["support_names"]);
  }
  CHECK(read(tmp.path / "b/results.json")["metrics"] == read(tmp.path / "a/results.json")["metrics"]);
  CHECK(read(tmp.path / "b/results.json")["protocol"]["sampler"] == "episodes_file");
  // The text form (class, query, supports by name), a prefix of 4.
  std::string lines = "# class\tquery\tsupports\n";
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& e = first["episodes"][i];
    lines += std::to_string(e["class_id"].get<int>()) + "\t" + e["query_name"].get<std::string>() + "\t" +
             e["support_names"][0].get<std::string>() + ";" + e["support_names"][1].get<std::string>() + "\n";
  }
  tmp.write("list.tsv", lines);
  std::string c_text = pipeline(tmp.path / "c", "episodes_file = \"list.tsv\"\n");
  c_text.replace(c_text.find("episodes = 9"), 12, "episodes = 4");
  const json third = run_ok("c", c_text);
  REQUIRE(third["episodes"].size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(third["episodes"][i]["supports"] == first["episodes"][i]["supports"]);
  // A name the dataset does not have is an error naming the file and the name.
  tmp.write("bad.tsv", "1\tno_such_image\tnone\n");
  const auto d = tmp.write("d.toml", pipeline(tmp.path / "d", "episodes_file = \"bad.tsv\"\n"));
  Exec rd = run_host(plugins() + "--pipeline " + d.string());
  CHECK(rd.code == 2);
  CHECK_THAT(rd.output, Catch::Contains("bad.tsv") && Catch::Contains("no_such_image"));
}

namespace {

// BAM's stand-in lists (core/data/tests/data/bam_episodes/README.md).
fs::path bam_ref_dir() { return source_dir() / "core/data/tests/data/bam_episodes"; }

// A VOC folder of tiny images made from the stand-in labels, under `tmp`.
fs::path bam_standin_voc(TempDir& tmp, const json& ref) {
  const fs::path voc = tmp.path / "VOC2012";
  const auto jpeg = standin_jpeg();
  std::string ids;
  for (const auto& [label, classes] : ref.at("labels").items()) {
    const std::string id = fs::path(label).stem().string();
    write_bytes(voc / "JPEGImages" / (id + ".jpg"), jpeg);
    const auto cls = classes.get<std::vector<int>>();
    write_bytes(voc / "SegmentationClassAug" / (id + ".png"), label_png({cls.begin(), cls.end()}));
    ids += id + "\n";
  }
  tmp.write("VOC2012/ImageSets/Segmentation/val.txt", ids);
  return voc;
}

// Runs difss-host with `protocol` over the stand-ins, 1 shot, `episodes` per seed, into tmp/out.
fs::path run_bam_family(TempDir& tmp, const fs::path& voc, const std::string& protocol, int episodes,
                        std::string* console = nullptr) {
  const fs::path out = tmp.path / "out";
  const auto p = tmp.write(protocol + ".toml",
                           "[pipeline]\nthreads = 1\noutput = \"" + out.string() + "\"\n[dataset]\nkind = \"pascal5i\"\n"
                           "root = \"" + voc.string() + "\"\nfold = 0\nshots = 1\nepisodes = " + std::to_string(episodes) +
                           "\noptions = { min_pixels = 1 }\n[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n"
                           "[evaluation]\nprotocol = \"" + protocol + "\"\nprotocol_lists = \"" +
                           bam_ref_dir().string() + "\"\ngrids = 0\n");
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  if (console) *console = r.output;
  return out;
}

std::string image_id(const json& path) { return fs::path(path.get<std::string>()).stem().string(); }

// The run's episodes first .. first + n - 1 are the dumped `run`'s first n; `name_of` turns a
// dumped query / support into the sample name difss writes (default: the image id).
void check_episodes(const fs::path& out, std::size_t first, const json& run, std::size_t n,
                    const std::function<std::string(const json&)>& name_of = image_id) {
  for (std::size_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.json", first + i);
    const json rec = read(out / "episodes" / name);
    const json& e = run.at("first")[i];
    INFO("episode " << i);
    REQUIRE(rec["class_id"] == e[0]);
    REQUIRE(rec["query"] == name_of(e[1]));
    REQUIRE(rec["supports"][0] == name_of(e[2][0]));
  }
}

}  // namespace

TEST_CASE("protocol bam: a PASCAL-5i run evaluates BAM's episodes for its five seeds, reports per seed, mean, best") {
  // The sequences dumped from BAM's own SemData + DataLoader on the stand-in lists.
  const json ref = read(bam_ref_dir() / "bam_sequences.json");
  TempDir tmp;
  const fs::path voc = bam_standin_voc(tmp, ref);
  std::string console;
  const fs::path out = run_bam_family(tmp, voc, "bam", 60, &console);
  std::size_t block = 0;
  for (const auto& run : ref.at("runs")) {
    if (run.at("shots") != 1 || run.at("workers") != 8) continue;
    INFO("seed " << run.at("seed"));
    check_episodes(out, block * 60, run, 60);
    ++block;
  }
  CHECK(block == 5);
  CHECK_FALSE(fs::exists(out / "episodes/000300.json"));
  const json res = read(out / "results.json");
  CHECK(res["protocol"]["seeds"] == json::array({510, 365, 382, 322, 988}));
  CHECK(res["protocol"]["eval_size"] == "label");
  const json& seeds = res["per_seed"]["real_only"];
  REQUIRE(seeds["per_seed"].size() == 5);
  double sum = 0, best = 0;
  for (const auto& s : seeds["per_seed"]) {
    CHECK(s["episodes"] == 60);
    sum += s["miou"].get<double>();
    best = std::max(best, s["miou"].get<double>());
  }
  CHECK(seeds["mean_miou"].get<double>() == Approx(sum / 5));
  CHECK(seeds["best_miou"].get<double>() == best);
  // The console shows the same table: one row per seed, then mean and best.
  char row[64];
  std::snprintf(row, sizeof row, "%-10d %14.2f", 510, seeds["per_seed"][0]["miou"].get<double>() * 100);
  CHECK_THAT(console, Catch::Contains("per seed (60 episodes each") && Catch::Contains(row));
  std::snprintf(row, sizeof row, "%-10s %14.2f", "mean", seeds["mean_miou"].get<double>() * 100);
  CHECK_THAT(console, Catch::Contains(row));
  // Without the lists, or on another dataset kind, the run is refused naming the key.
  auto no_lists = tmp.write("n.toml", "[pipeline]\noutput = \"" + (tmp.path / "n").string() +
                                          "\"\n[dataset]\nkind = \"pascal5i\"\nroot = \"" + voc.string() +
                                          "\"\noptions = { min_pixels = 1 }\n[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n"
                                          "[evaluation]\nprotocol = \"bam\"\n");
  const Exec r = run_host(plugins() + "--pipeline " + no_lists.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("protocol_lists"));
}

TEST_CASE("protocol cyctr: a PASCAL-5i run evaluates CyCTR's episodes (one seed, 123) and records the bundle") {
  // The sequences dumped from CyCTR's own SemData + DataLoader + validate() loop on BAM's stand-in
  // lists (core/data/tests/data/cyctr_episodes/README.md).
  const json ref = read(source_dir() / "core/data/tests/data/cyctr_episodes/cyctr_sequences.json");
  TempDir tmp;
  const fs::path voc = bam_standin_voc(tmp, read(bam_ref_dir() / "bam_sequences.json"));
  const fs::path out = run_bam_family(tmp, voc, "cyctr", 40);
  const json* run = nullptr;
  for (const auto& r : ref.at("runs"))
    if (r.at("shots") == 1 && r.at("workers") == 8 && r.at("list_repeats") == 1) run = &r;
  REQUIRE(run);
  check_episodes(out, 0, *run, 40);
  CHECK_FALSE(fs::exists(out / "episodes/000040.json"));
  const json res = read(out / "results.json");
  CHECK(res["protocol"]["name"] == "cyctr");
  CHECK(res["protocol"]["seeds"] == json::array({123}));
  CHECK(res["protocol"]["workers"] == 8);
  CHECK(res["protocol"]["eval_size"] == "label");
  CHECK(res["protocol"]["input_size"] == 473);
  CHECK(res["protocol"]["overridden"] == json::array());
  CHECK_THAT(res["protocol"]["source"].get<std::string>(), Catch::Contains("CyCTR-Pytorch @ 1a06183"));
  REQUIRE(res["per_seed"]["real_only"]["per_seed"].size() == 1);
  CHECK(res["per_seed"]["real_only"]["per_seed"][0]["episodes"] == 40);
}

namespace {

fs::path coco_ref_dir() { return source_dir() / "core/data/tests/data/coco_bam_episodes"; }

// A COCO 2014 folder (val2014/ + annotations/val2014/) of tiny images made from the COCO stand-in
// labels (base classes and 255 included), under `tmp`.
fs::path coco_standin(TempDir& tmp, const json& ref) {
  const fs::path root = tmp.path / "COCO2014";
  const auto jpeg = standin_jpeg();
  for (const auto& [label, classes] : ref.at("labels").items()) {
    const std::string id = fs::path(label).stem().string();
    write_bytes(root / "val2014" / (id + ".jpg"), jpeg);
    const auto cls = classes.get<std::vector<int>>();
    write_bytes(root / "annotations/val2014" / (id + ".png"), label_png({cls.begin(), cls.end()}));
  }
  return root;
}

// Runs difss-host with `protocol` on the COCO stand-ins (coco20i fold 0, 1 shot, `episodes` per
// seed) into tmp/<protocol>.
fs::path run_coco_bam_family(TempDir& tmp, const fs::path& root, const std::string& protocol, int episodes) {
  const fs::path out = tmp.path / protocol;
  const auto p = tmp.write(protocol + "-coco.toml",
                           "[pipeline]\nthreads = 1\noutput = \"" + out.string() + "\"\n[dataset]\nkind = \"coco20i\"\n"
                           "root = \"" + root.string() + "\"\nfold = 0\nshots = 1\nepisodes = " + std::to_string(episodes) +
                           "\noptions = { min_pixels = 1, ignore_255 = 1 }\n[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n"
                           "[evaluation]\nprotocol = \"" + protocol + "\"\nprotocol_lists = \"" + coco_ref_dir().string() +
                           "\"\ngrids = 0\n");
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  return out;
}

// The run's episodes first .. first + n - 1 are the dumped run's first n ([class, query line,
// [support lines]] of data_list_0.txt; difss names a coco20i sample val2014/<image stem>).
void check_coco_episodes(const fs::path& out, std::size_t first, const json& run, std::size_t n) {
  const auto list = difss::data::read_bam_data_list(coco_ref_dir() / "data_list_0.txt");
  check_episodes(out, first, run, n, [&](const json& line) {
    return "val2014/" + fs::path(list.at(line.get<std::size_t>()).first).stem().string();
  });
}

const json* find_run(const json& ref, const std::string& protocol, std::uint32_t seed, int list_repeats = 1) {
  for (const auto& r : ref.at("runs"))
    if (r.at("protocol") == protocol && r.at("seed") == seed && r.at("shots") == 1 &&
        r.at("list_repeats") == list_repeats && r.at("workers") != 0)
      return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("protocols bam, hdmnet, cyctr on coco20i (use_split_coco): the official COCO episodes, seeds and sizes") {
  // The sequences dumped from BAM's, HDMNet's and CyCTR's own SemData + DataLoader + validate()
  // loops on the COCO stand-in list (core/data/tests/data/coco_bam_episodes/README.md).
  const json ref = read(coco_ref_dir() / "coco_sequences.json");
  TempDir tmp;
  const fs::path root = coco_standin(tmp, ref);
  {  // BAM: five seeds, 1000 episodes each (here a 40-episode prefix per seed), val_size 641
    const fs::path out = run_coco_bam_family(tmp, root, "bam", 40);
    const auto seeds = ref.at("seeds").get<std::vector<std::uint32_t>>();
    for (std::size_t k = 0; k < 5; ++k) {
      INFO("bam seed " << seeds[k]);
      const json* run = find_run(ref, "bam", seeds[k]);
      REQUIRE(run);
      check_coco_episodes(out, k * 40, *run, 40);
    }
    CHECK_FALSE(fs::exists(out / "episodes/000200.json"));
    const json res = read(out / "results.json");
    CHECK(res["protocol"]["seeds"] == json::array({510, 365, 382, 322, 988}));
    CHECK(res["protocol"]["input_size"] == 641);
    CHECK(res["protocol"]["workers"] == 8);
    CHECK(res["protocol"]["overridden"] == json::array());
    CHECK(res["per_seed"]["real_only"]["per_seed"].size() == 5);
  }
  {  // HDMNet: ten seeds of 10000 episodes (a 30-episode prefix each), stretched to 633
    const fs::path out = run_coco_bam_family(tmp, root, "hdmnet", 30);
    const auto seeds = ref.at("seeds").get<std::vector<std::uint32_t>>();
    for (std::size_t k : {std::size_t(0), std::size_t(9)}) {
      INFO("hdmnet seed " << seeds[k]);
      const json* run = find_run(ref, "hdmnet", seeds[k]);
      REQUIRE(run);
      CHECK(run->at("episodes") == 10000);
      check_coco_episodes(out, k * 30, *run, 30);
    }
    const json res = read(out / "results.json");
    CHECK(res["protocol"]["seeds"].size() == 10);
    CHECK(res["protocol"]["input_size"] == 633);
    CHECK(res["protocol"]["episodes_per_seed"] == 30);
  }
  {  // CyCTR: one evaluation seeded 321, 16 workers, 5001 episodes at most (here 40)
    const fs::path out = run_coco_bam_family(tmp, root, "cyctr", 40);
    const json* run = find_run(ref, "cyctr", 321);
    REQUIRE(run);
    check_coco_episodes(out, 0, *run, 40);
    const json res = read(out / "results.json");
    CHECK(res["protocol"]["seeds"] == json::array({321}));
    CHECK(res["protocol"]["workers"] == 16);
    CHECK(res["protocol"]["input_size"] == 473);
    // CyCTR's own COCO lists name val2017 images by their id (val2017/000000196185.jpg): the same
    // lists spelt so give the same episodes on coco20i's COCO_val2014_<id> samples.
    for (const char* file : {"data_list_0.txt", "sub_class_file_list_0.txt"}) {
      std::ifstream in(coco_ref_dir() / file);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (const std::string from : {"../data/MSCOCO2014/val2014/COCO_val2014_",
                                     "../data/MSCOCO2014/annotations/val2014/COCO_val2014_"})
        for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at))
          text.replace(at, from.size(), from.find("annotations") == std::string::npos ? "val2017/" : "masks/");
      tmp.write(std::string("cyctr-lists/") + file, text);
    }
    const fs::path ids = tmp.path / "cyctr-ids";
    const auto p = tmp.write("cyctr-ids.toml", "[pipeline]\nthreads = 1\noutput = \"" + ids.string() +
                                                   "\"\n[dataset]\nkind = \"coco20i\"\nroot = \"" + root.string() +
                                                   "\"\nfold = 0\nepisodes = 40\noptions = { min_pixels = 1, ignore_255 = 1 }\n"
                                                   "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\n"
                                                   "protocol = \"cyctr\"\nprotocol_lists = \"cyctr-lists\"\ngrids = 0\n");
    const Exec r = run_host(plugins() + "--pipeline " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    check_coco_episodes(ids, 0, *run, 40);
  }
  // A list file that is missing, or malformed, is refused naming it.
  tmp.write("lists/data_list_0.txt", "only_one_field\n");
  tmp.write("lists/sub_class_file_list_0.txt", "{1: [['a.jpg', 'a.png']]}");
  auto bad = tmp.write("bad.toml", "[pipeline]\noutput = \"" + (tmp.path / "bad").string() + "\"\n[dataset]\nkind = \"coco20i\"\n"
                       "root = \"" + root.string() + "\"\noptions = { min_pixels = 1 }\n[segmenter]\nplugin = "
                       "\"org.difss.test.color-segmenter\"\n[evaluation]\nprotocol = \"bam\"\nprotocol_lists = \"lists\"\n");
  Exec r = run_host(plugins() + "--pipeline " + bad.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("data_list_0.txt") && Catch::Contains("line 1"));
  CHECK_THAT(r.output, Catch::Contains("label 255 is scored as background"));  // no ignore_255 = 1: said
  fs::remove(tmp.path / "lists/sub_class_file_list_0.txt");
  r = run_host(plugins() + "--pipeline " + bad.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("sub_class_file_list_0.txt") && Catch::Contains("cannot be read"));
}

TEST_CASE("official_bugs: a COCO generate run finishes skipping classes > 20 with a count; FSS-1000 prompts say 'taxi'") {
  TempDir tmp;
  const auto jpeg = encoded(".jpg", cv::Mat(16, 16, CV_8UC3, cv::Scalar(90, 120, 150)));
  // COCO-20i fold 0 (classes 1, 5, ..., 77): three images with class 1 and classes above 20.
  const std::vector<std::set<int>> coco_labels = {{1, 25}, {1, 41}, {5, 77}};
  for (std::size_t i = 0; i < coco_labels.size(); ++i) {
    const std::string stem = "val2014/COCO_val2014_00000000000" + std::to_string(i);
    write_bytes(tmp.path / "coco" / (stem + ".jpg"), jpeg);
    cv::Mat m(16, 16, CV_8UC1, cv::Scalar(0));
    int k = 0;
    for (int c : coco_labels[i]) m.rowRange(4 * k, 4 * k + 4).setTo(c), ++k;
    write_bytes(tmp.path / "coco/annotations" / (stem + ".png"), encoded(".png", m));
  }
  auto generate = [&](const std::string& name, const std::string& dataset) {
    const auto p = tmp.write(name + ".toml", "[pipeline]\nmode = \"generate\"\nthreads = 1\nlog_level = \"debug\"\noutput = \"" +
                                                 (tmp.path / name).string() + "\"\n[dataset]\n" + dataset +
                                                 "[condition]\nplugin = \"org.difss.condition.seg-palette\"\n"
                                                 "params = { official_bugs = true, resolution = 64 }\n"
                                                 "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 1\n");
    Exec r = run_host(plugins() + "--pipeline " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return read(tmp.path / name / "results.json");
  };
  const json coco = generate("coco", "kind = \"coco20i\"\nroot = \"" + (tmp.path / "coco").string() +
                                         "\"\noptions = { min_pixels = 1 }\n");
  // all six pairs are fold 0's; those of 25, 41 and 77 are declined (no control), counted
  CHECK(coco["counts"]["pairs"] == 6);
  CHECK(coco["counts"]["done"] == 6);
  CHECK(coco["counts"]["declined"] == 3);
  CHECK(coco["counts"]["generated_images"] == 3);
  CHECK(coco["counts"]["skipped"] == 0);
  // FSS-1000: every class prompted as FSSpregenerate.py's binarised label 1, "taxi".
  for (const char* c : {"eiffel_tower", "apple"})
    for (int n = 1; n <= 2; ++n) {
      write_bytes(tmp.path / "fss" / c / (std::to_string(n) + ".jpg"), jpeg);
      write_bytes(tmp.path / "fss" / c / (std::to_string(n) + ".png"), encoded(".png", cv::Mat(16, 16, CV_8UC1, cv::Scalar(255))));
    }
  const json fss = generate("fss", "kind = \"fss1000\"\nroot = \"" + (tmp.path / "fss").string() + "\"\n");
  CHECK(fss["counts"]["generated_images"] == 4);
  std::ifstream in(tmp.path / "fss/run.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(log, Catch::Contains("images for 'a real shot photo of taxi,, best quality, extremely detailed'") &&
                      !Catch::Contains("photo of apple") && !Catch::Contains("photo of eiffel"));
}

#include "difss/core/run.hpp"

#include <difss/data/data.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "difss/core/errors.hpp"
#include "difss/core/evaluation_size.hpp"
#include "difss/core/host_services.hpp"
#include "difss/core/instances.hpp"
#include "difss/core/log.hpp"
#include "difss/core/pipeline_dataset.hpp"
#include "difss/core/progress.hpp"
#include "difss/core/protocol.hpp"
#include "difss/core/report.hpp"
#include "difss/core/seeds.hpp"
#include "difss/core/team.hpp"

#ifndef DIFSS_VERSION
#define DIFSS_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace difss {

uint64_t item_seed(uint64_t pipeline_seed, const std::string& key) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
  uint64_t z = pipeline_seed + 0x9E3779B97F4A7C15ULL * (h | 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

const char* kHonestyNote =
    "Embedded default: tiny models trained by difss on procedural images. These numbers "
    "demonstrate the pipeline; they are not the paper's results.";

json read_json(const fs::path& f) {
  std::ifstream in(f);
  return json::parse(in);
}

void write_json(const fs::path& f, const json& j) { data::write_file_atomic(f, j.dump(2) + "\n"); }

// Removes temporary files a killed run may have left (the atomic writer's "<name>.tmp-XXXXXX").
size_t remove_stale_temporaries(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename().string().find(".tmp-") != std::string::npos) {
      fs::remove(it->path(), ec);
      ++n;
    }
  }
  return n;
}

json counts_json(const data::IoUCounts& c) {
  return {{"inter_bg", c.inter[0]}, {"union_bg", c.uni[0]}, {"inter_fg", c.inter[1]}, {"union_fg", c.uni[1]}};
}
data::IoUCounts counts_from(const json& j) {
  data::IoUCounts c;
  c.inter[0] = j.at("inter_bg");
  c.uni[0] = j.at("union_bg");
  c.inter[1] = j.at("inter_fg");
  c.uni[1] = j.at("union_fg");
  return c;
}
double fg_iou(const data::IoUCounts& c) { return c.uni[1] ? double(c.inter[1]) / double(c.uni[1]) : 0.0; }

std::string pad6(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06zu", i);
  return buf;
}

// The identity of a run: the resolved pipeline without settings that do not change results.
json run_identity(const Pipeline& p) {
  json j = p.resolved_json();
  j["pipeline"].erase("threads");
  j["pipeline"].erase("log_level");
  j["pipeline"].erase("output");
  j["pipeline"].erase("file");
  j["pipeline"].erase("on_error");
  j["evaluation"].erase("grids");
  // the default store lives in the output folder, which is not part of the identity either
  if (p.generator && p.aux.aux_dir == p.output / "aux") j["generator"].erase("aux_dir");
  return j;
}

class Runner {
 public:
  Runner(const Pipeline& p, const RunOptions& o, Team& team)
      : p_(p), opt_(o), out_(p.output), team_(team), eval_size_(p.evaluation) {}

  RunSummary run() {
    open_dataset();  // first: a dataset that cannot be opened must leave no run folder behind
    if (opt_.aggregate_only) {
      attach_existing();
      return p_.mode == "generate" ? generate_all() : evaluate_all();
    }
    // The run folder is set up by the root alone; the other ranks join it once it exists.
    if (team_.root()) {
      prepare();
      check_inputs();
    }
    team_.barrier();  // the folder and run.json exist from here on
    if (!team_.root()) attach();
    create_instances();
    return p_.mode == "generate" ? generate_all() : evaluate_all();
  }

 private:
  // ---------------------------------------------------------------------------- set-up
  // `difss-host aggregate`: the run folder must hold a run of this very pipeline.
  void attach_existing() {
    const fs::path run_json = out_ / "run.json";
    if (!fs::exists(run_json))
      throw ConfigError(out_.string() + ": no run.json here; this is not a difss run folder");
    if (read_json(run_json).value("identity", json()) != run_identity(p_))
      throw ConfigError(p_.file.string() + ": the run in " + out_.string() +
                        " was made by a different version of this pipeline; cannot aggregate it");
    attach();
  }

  // Joins a run folder the root has prepared (its log, the aux store).
  void attach() {
    add_log_file(out_ / "run.log");
    set_run_dir(out_);
    per_support_ = p_.aux_per_support();
    const fs::path aux_root = p_.generator ? p_.aux.aux_dir : out_ / "aux";
    store_ = std::make_unique<data::AuxSupportStore>(aux_root);
  }

  void prepare() {
    if (opt_.force_restart && fs::exists(out_)) {
      logger()->info("--force-restart: removing the previous run in {}", out_.string());
      fs::remove_all(out_);
    }
    fs::create_directories(out_);
    size_t stale = remove_stale_temporaries(out_);
    add_log_file(out_ / "run.log");
    logger()->info("run '{}' -> {} ({})", p_.name, out_.string(), team_.describe());
    if (stale) logger()->info("removed {} temporary file(s) left by an interrupted run", stale);
    json id = run_identity(p_);
    fs::path run_json = out_ / "run.json";
    if (fs::exists(run_json)) {
      json old = read_json(run_json);
      if (old.value("identity", json()) != id)
        throw ConfigError(p_.file.string() + ": the output folder " + out_.string() +
                          " holds a run of a different pipeline (seed, dataset, plugins or parameters "
                          "differ); choose another [pipeline] output or remove that folder");
      logger()->info("resuming: finished items are kept");
    } else {
      std::error_code ec;
      const fs::path file = p_.file.empty() ? fs::path() : fs::absolute(p_.file, ec);
      write_json(run_json, {{"identity", id}, {"difss_version", DIFSS_VERSION}, {"pipeline_file", file.string()}});
    }
    set_run_dir(out_);
    per_support_ = p_.aux_per_support();
    const fs::path aux_root = p_.generator ? p_.aux.aux_dir : out_ / "aux";
    store_ = std::make_unique<data::AuxSupportStore>(aux_root);
  }

  // What a run's results depend on besides the pipeline: the dataset's files and the plugins'
  // file parameters (weights, vocabularies), each with its size and modification time.
  json input_fingerprint() const {
    json files = json::object();
    auto add = [&files](const fs::path& f) {
      if (f.empty() || files.contains(f.string())) return;
      std::error_code e1, e2;
      const auto size = fs::file_size(f, e1);
      const auto time = fs::last_write_time(f, e2);
      files[f.string()] = (e1 || e2) ? json("missing")
                                     : json{{"size", size}, {"mtime", int64_t(time.time_since_epoch().count())}};
    };
    for (const auto& s : ds_->samples()) {
      add(s.image_path);
      add(s.mask_path);
    }
    for (const auto* st : {&p_.condition, &p_.generator, &p_.segmenter})
      if (*st)
        for (const auto& item : (*st)->params.items())
          if (item.value.type == DIFSS_PARAM_PATH) add(item.value.s);
    return files;
  }

  // A re-run over changed inputs would mix old and new results: refused, naming what changed.
  void check_inputs() {
    const fs::path file = out_ / "inputs.json";
    json now = input_fingerprint();
    if (fs::exists(file) && !opt_.resume_anyway) {
      const json before = read_json(file);
      std::vector<std::string> changes;
      for (auto& [path, v] : now.items())
        if (!before.contains(path)) changes.push_back("'" + path + "' is new");
        else if (before.at(path) != v) changes.push_back("'" + path + "' changed");
      for (auto& [path, v] : before.items())
        if (!now.contains(path)) changes.push_back("'" + path + "' is gone");
      if (!changes.empty()) {
        std::string list;
        for (size_t i = 0; i < changes.size() && i < 5; ++i) list += (i ? "; " : "") + changes[i];
        if (changes.size() > 5) list += "; and " + std::to_string(changes.size() - 5) + " more";
        throw ConfigError(p_.file.string() + ": the inputs of the run in " + out_.string() +
                          " changed since it started (" + list +
                          "); re-run with --force-restart to start over, or --resume-anyway to keep "
                          "its finished items");
      }
      return;
    }
    write_json(file, now);
  }

  void open_dataset() {
    ds_ = open_pipeline_dataset(p_);
    logger()->info("dataset {}: {} classes, {} image-class pairs ({})", ds_->kind(), ds_->classes().size(),
                   ds_->samples().size(), ds_->split_source());
  }

  void create_instances() {
    auto t0 = Clock::now();
    if (p_.condition && p_.condition->info && p_.generator && p_.generator->info)
      cond_ = std::make_unique<ConditionInstance>(*p_.condition->info, p_.condition->params);
    if (p_.generator && p_.generator->info)
      sampler_ = std::make_unique<SamplerInstance>(*p_.generator->info, p_.generator->params);
    if (p_.mode == "evaluate" && p_.segmenter && p_.segmenter->info)
      seg_ = std::make_unique<SegmenterInstance>(*p_.segmenter->info, p_.segmenter->params);
    load_seconds_ = seconds_since(t0);
    logger()->info("plugins ready in {:.2f} s", load_seconds_);
  }

  // Runs `work` on every item the team hands this process. An exception that escapes `work`
  // stops the whole team; it is rethrown (same type) after the results were gathered.
  template <class Work>
  void work_loop(Work&& work) {
    try {
      while (auto item = team_.next()) {
        if (cancel_requested()) throw Cancelled();
        work(*item);
      }
    } catch (const std::exception& e) {
      failure_ = std::current_exception();
      team_.fail(e.what());
    }
  }

  // Every rank's `mine` on the root (nothing elsewhere); then a failure of this process is
  // rethrown as it was, and the root reports the other ranks'.
  std::vector<std::string> gather_results(const json& mine, Progress* prog) {
    auto gathered = team_.gather(mine.dump());
    if (prog) prog->finish();
    raise_failures();
    return gathered;
  }

  void raise_failures() {
    if (failure_) std::rethrow_exception(failure_);
    const auto f = team_.failures();
    if (f.empty() || !team_.root()) return;
    std::string all;
    for (const auto& s : f) all += (all.empty() ? "" : "; ") + s;
    throw std::runtime_error("the run stopped: " + all + " (finished items are kept; re-run to resume)");
  }

  // ---------------------------------------------------------------------------- aux supports
  // The aux images of (support sample, class): read from the store, generated first if missing
  // and a sampler is configured. `control` receives the control map when one is made or stored.
  std::vector<data::AuxSupport> aux_for(size_t s, int cls, Progress* prog, cv::Mat* control) {
    if (per_support_ <= 0) return {};
    const data::Sample& smp = ds_->samples()[s];
    int label = ds_->aux_label(cls);
    if (sampler_ && store_->count(*ds_, s, cls, per_support_) < per_support_) {
      try {
        auto t0 = Clock::now();
        cv::Mat image = ds_->load_image(s), mask = ds_->load_mask(s, cls);
        const data::ClassInfo& ci = ds_->class_info(cls);
        cv::Mat ctl = cond_->generate(image, mask, cls, ci.name, ds_->class_set());
        store_->write_control(smp.name, label, ctl);
        SamplerInstance::Request req;
        std::string cname = ci.prompt_name.empty() ? ci.name : ci.prompt_name;
        req.prompt = p_.prompt_for(p_.prompt_class_name(cname, ds_->class_set()));
        req.negative_prompt = p_.negative_prompt();
        req.class_id = cls;
        req.class_name = cname;
        req.seed = item_seed(p_.seed, smp.name + "#" + std::to_string(cls));
        req.count = uint32_t(per_support_);
        auto images = sampler_->sample(ctl, req, [prog](const char* what, uint64_t d, uint64_t t) {
          if (prog) prog->note(std::string(what) + " " + std::to_string(d) + "/" + std::to_string(t));
        });
        for (int k = 0; k < per_support_; ++k) store_->write(*ds_, s, cls, k, images[size_t(k)]);
        generated_ += per_support_;
        gen_seconds_ += seconds_since(t0);
        if (control) *control = ctl;
      } catch (const PluginSkipped& e) {
        // The plugin declined this support (DIFSS_SKIP, e.g. a class the official script does not
        // generate): not a failure. No aux images are written; readers fall back to the real support.
        ++declined_;
        logger()->info("no auxiliary images for {} (class {}): {}", smp.name, cls, e.what());
      }
    } else if (control) {
      fs::path cp = store_->control_path(smp.name, label);
      if (fs::exists(cp)) *control = data::read_image_rgb(cp);
    }
    auto aux = store_->load(*ds_, s, cls, per_support_, data::MissingAux::fallback_to_support);
    for (const auto& a : aux) fallbacks_ += a.is_fallback;
    return aux;
  }

  // ---------------------------------------------------------------------------- generate
  bool pair_complete(size_t i) const {
    return store_->count(*ds_, i, ds_->samples()[i].class_id, per_support_) >= per_support_;
  }

  RunSummary generate_all() {
    const auto& samples = ds_->samples();
    std::vector<size_t> todo;
    size_t complete_before = 0;
    if (team_.root()) {
      for (size_t i = 0; i < samples.size(); ++i) {
        if (pair_complete(i))
          ++complete_before;
        else
          todo.push_back(i);
      }
    }
    std::unique_ptr<Progress> prog;
    if (team_.root() && !opt_.aggregate_only) {
      prog = std::make_unique<Progress>("generate", samples.size());
      prog->advance(complete_before, true);
    }
    json errors = json::array();
    size_t done = 0;
    auto t0 = Clock::now();
    if (!opt_.aggregate_only) {
      team_.start(todo, [&prog](size_t) { prog->advance(1); });
      work_loop([&](size_t i) {
        try {
          aux_for(i, samples[i].class_id, prog.get(), nullptr);
          ++done;
        } catch (const PluginError&) {
          throw;
        } catch (const std::exception& e) {
          if (p_.on_error != "skip") throw;
          logger()->warn("skipping {}: {}", samples[i].name, e.what());
          errors.push_back({{"item", i}, {"name", samples[i].name}, {"error", e.what()}});
        }
      });
    }
    const json mine = {{"done", done}, {"errors", errors}, {"declined", declined_},
                       {"generated", generated_}, {"generation_seconds", gen_seconds_}};
    const auto gathered = gather_results(mine, prog.get());
    if (!team_.root()) return {true, true, out_, ""};
    json total = {{"done", 0}, {"errors", json::array()}, {"declined", 0}, {"generated", 0}, {"generation_seconds", 0.0}};
    for (const auto& g : gathered) {
      const json j = json::parse(g);
      for (const char* k : {"done", "declined", "generated"}) total[k] = total[k].get<size_t>() + j[k].get<size_t>();
      total["generation_seconds"] = total["generation_seconds"].get<double>() + j["generation_seconds"].get<double>();
      for (const auto& e : j["errors"]) total["errors"].push_back(e);
    }
    std::sort(total["errors"].begin(), total["errors"].end(),
              [](const json& x, const json& y) { return x["item"].get<size_t>() < y["item"].get<size_t>(); });
    size_t complete = complete_before + total["done"].get<size_t>();
    if (!team_.whole_job()) {  // a static shard: the others' pairs are in the folder, or not yet
      complete = 0;
      for (size_t i = 0; i < samples.size(); ++i) complete += pair_complete(i);
      // pairs a plugin declined have no images and never will: not missing
      const size_t settled = complete + total["errors"].size() + total["declined"].get<size_t>();
      const size_t missing = samples.size() > settled ? samples.size() - settled : 0;
      if (missing > 0) {
        std::string msg = std::to_string(missing) + " pair(s) are not generated yet (other shards); "
                          "`difss-host aggregate " + out_.string() + "` writes the results once they are";
        logger()->info("{}", msg);
        return {true, false, out_, msg};
      }
    }
    const size_t skipped = total["errors"].size();
    json results = {{"name", p_.name},
                    {"mode", "generate"},
                    {"difss_version", DIFSS_VERSION},
                    {"pipeline", p_.resolved_json()},
                    {"dataset", ds_->describe()},
                    {"aux_dir", store_->root().string()},
                    {"aux_per_support", per_support_},
                    {"counts", {{"pairs", samples.size()}, {"done", complete}, {"skipped", skipped},
                                {"declined", total["declined"]}, {"generated_images", total["generated"]}}},
                    {"errors", total["errors"]},
                    {"timing", {{"total_seconds", seconds_since(t0)}, {"load_seconds", load_seconds_},
                                {"generation_seconds", total["generation_seconds"]},
                                {"processes", team_.describe()}}}};
    write_json(out_ / "results.json", results);
    logger()->info("generated {} auxiliary images into {} ({} pairs, {} skipped, {} declined by a plugin)",
                   total["generated"].get<size_t>(), store_->root().string(), samples.size(), skipped,
                   total["declined"].get<size_t>());
    return {true, true, out_, ""};
  }

  // ---------------------------------------------------------------------------- evaluate
  json run_episode(const data::Episode& ep, Progress* prog, bool draw_grid) {
    auto t0 = Clock::now();
    cv::Mat query = ds_->load_image(ep.query), gt = ds_->load_mask(ep.query, ep.class_id);
    std::vector<cv::Mat> imgs, masks;
    for (size_t s : ep.supports) {
      imgs.push_back(ds_->load_image(s));
      masks.push_back(ds_->load_mask(s, ep.class_id));
      if (cv::countNonZero(masks.back() == 1) == 0)
        logger()->debug("episode {}: support {} has an empty mask (kept, as the official code does)",
                        ep.index, ds_->samples()[s].name);
    }
    std::vector<cv::Mat> aux_imgs, aux_masks, controls;
    for (size_t s : ep.supports) {
      cv::Mat ctl;
      for (auto& a : aux_for(s, ep.class_id, prog, &ctl)) {
        aux_imgs.push_back(a.image);
        aux_masks.push_back(a.mask);
      }
      controls.push_back(ctl);
    }
    json rec = {{"index", ep.index}, {"class_id", ep.class_id}, {"query", ds_->samples()[ep.query].name}};
    json sup = json::array();
    for (size_t s : ep.supports) sup.push_back(ds_->samples()[s].name);
    rec["supports"] = sup;
    cv::Mat gt_eval = eval_size_.label(gt);
    SegmenterInstance::Result real, aux;
    bool with_aux = !aux_imgs.empty();
    bool real_only = !with_aux || p_.evaluation.compare_without_aux;
    if (real_only) {
      real = seg_->segment(query, imgs, masks, {}, {}, eval_size_.request());
      rec["real"] = counts_json(data::count_iou(eval_size_.prediction(real.mask), gt_eval));
    }
    if (with_aux) {
      std::vector<cv::Mat> all_i = imgs, all_m = masks;
      std::vector<uint8_t> flags(imgs.size(), 0);
      all_i.insert(all_i.end(), aux_imgs.begin(), aux_imgs.end());
      all_m.insert(all_m.end(), aux_masks.begin(), aux_masks.end());
      flags.resize(all_i.size(), 1);
      aux = seg_->segment(query, all_i, all_m, flags, {}, eval_size_.request());
      rec["aux"] = counts_json(data::count_iou(eval_size_.prediction(aux.mask), gt_eval));
    }
    // The trivial baselines on the same queries, so every report can say how far above them it is.
    rec["all_fg"] = counts_json(data::count_iou(cv::Mat(gt_eval.size(), CV_8UC1, cv::Scalar(1)), gt_eval));
    rec["all_bg"] = counts_json(data::count_iou(cv::Mat(gt_eval.size(), CV_8UC1, cv::Scalar(0)), gt_eval));
    rec["seconds"] = seconds_since(t0);
    if (draw_grid) {
      std::vector<GridCell> row;
      for (size_t k = 0; k < imgs.size(); ++k) row.push_back({"support", {}, masks[k], imgs[k]});
      for (const auto& c : controls)
        if (!c.empty()) row.push_back({"control", c, {}, {}});
      for (size_t k = 0; k < aux_imgs.size(); ++k) row.push_back({"aux " + std::to_string(k), aux_imgs[k], {}, {}});
      row.push_back({"query", query, {}, {}});
      if (!real.mask.empty()) row.push_back({"pred real", {}, real.mask, query});
      if (!aux.mask.empty()) row.push_back({"pred +aux", {}, aux.mask, query});
      row.push_back({"ground truth", {}, gt, query});
      cv::Mat grid = compose_grid({row}), bgr;
      cv::cvtColor(grid, bgr, cv::COLOR_RGB2BGR);
      data::imwrite_atomic(out_ / "grids" / ("episode_" + pad6(ep.index) + ".png"), bgr);
    }
    return rec;
  }

  RunSummary evaluate_all() {
    data::EpisodeOptions eo;
    const std::vector<data::Episode> episodes = pipeline_episodes(p_, *ds_, eo);
    const auto record_file = [this](size_t index) { return out_ / "episodes" / (pad6(index) + ".json"); };
    std::vector<size_t> todo;
    std::unique_ptr<Progress> prog;
    if (team_.root() && !opt_.aggregate_only) {
      write_json(out_ / "episodes.json", episodes_record(p_, *ds_, episodes, eo));
      size_t finished = 0;
      for (size_t i = 0; i < episodes.size(); ++i)
        if (fs::exists(record_file(episodes[i].index))) ++finished;
        else todo.push_back(i);
      prog = std::make_unique<Progress>("episodes", episodes.size());
      prog->advance(finished, true);
    }
    std::error_code ec;
    fs::create_directories(out_ / "episodes", ec);
    const size_t grids = size_t(p_.evaluation.grids);

    json records = json::array();  // what this process computed, gathered by the root at the end
    auto t0 = Clock::now();
    if (!opt_.aggregate_only) {
      team_.start(todo, [&prog](size_t) { prog->advance(1); });
      work_loop([&](size_t i) {
        const data::Episode& ep = episodes[i];
        json rec;
        try {
          rec = run_episode(ep, prog.get(), ep.index < grids);
        } catch (const PluginError&) {
          throw;
        } catch (const Cancelled&) {
          throw;
        } catch (const std::exception& e) {
          if (p_.on_error != "skip") throw;
          logger()->warn("episode {} skipped: {}", ep.index, e.what());
          rec = {{"index", ep.index}, {"class_id", ep.class_id}, {"skipped", e.what()}};
        }
        write_json(record_file(ep.index), rec);
        records.push_back(std::move(rec));
      });
    }
    const json mine = {{"records", records}, {"generated", generated_}, {"fallbacks", fallbacks_},
                       {"declined", declined_}, {"generation_seconds", gen_seconds_}};
    const auto gathered = gather_results(mine, prog.get());
    if (!team_.root()) return {true, true, out_, ""};
    std::map<size_t, json> by_index;
    generated_ = fallbacks_ = declined_ = 0;
    gen_seconds_ = 0;
    for (const auto& g : gathered) {
      json j = json::parse(g);
      for (auto& r : j["records"]) {
        const size_t index = r["index"].get<size_t>();
        by_index[index] = std::move(r);
      }
      generated_ += j["generated"].get<size_t>();
      fallbacks_ += j["fallbacks"].get<size_t>();
      declined_ += j["declined"].get<size_t>();
      gen_seconds_ += j["generation_seconds"].get<double>();
    }
    // Episodes finished by an earlier run (or another shard) are read from their files.
    for (const auto& ep : episodes)
      if (!by_index.count(ep.index) && fs::exists(record_file(ep.index)))
        by_index[ep.index] = read_json(record_file(ep.index));
    return aggregate(episodes, by_index, seconds_since(t0));
  }

  RunSummary aggregate(const std::vector<data::Episode>& episodes, const std::map<size_t, json>& records,
                       double loop_seconds) {
    std::vector<int> classes;
    for (const auto& c : ds_->classes()) classes.push_back(c.id);
    data::IoUAccumulator acc_real(classes), acc_aux(classes), acc_fg(classes), acc_bg(classes);
    size_t missing = 0, skipped = 0, with_aux = 0;
    double episode_seconds = 0;
    json skipped_list = json::array();
    std::string csv = "index,class_id,class_name,query,supports,iou_real,iou_aux,seconds,status\n";
    std::vector<std::string> grid_files;
    for (const auto& ep : episodes) {
      const auto found = records.find(ep.index);
      if (found == records.end()) {
        ++missing;
        continue;
      }
      const json& rec = found->second;
      std::string cname = ds_->class_info(ep.class_id).name;
      if (rec.contains("skipped")) {
        ++skipped;
        skipped_list.push_back({{"index", ep.index}, {"reason", rec["skipped"]}});
        csv += std::to_string(ep.index) + "," + std::to_string(ep.class_id) + "," + cname + ",,,,,,skipped\n";
        continue;
      }
      std::string ir, ia;
      if (rec.contains("real")) {
        auto c = counts_from(rec["real"]);
        acc_real.add_counts(ep.class_id, c);
        ir = std::to_string(fg_iou(c));
      }
      if (rec.contains("aux")) {
        auto c = counts_from(rec["aux"]);
        acc_aux.add_counts(ep.class_id, c);
        ia = std::to_string(fg_iou(c));
        ++with_aux;
      }
      if (rec.contains("all_fg")) acc_fg.add_counts(ep.class_id, counts_from(rec["all_fg"]));
      if (rec.contains("all_bg")) acc_bg.add_counts(ep.class_id, counts_from(rec["all_bg"]));
      std::string sup;
      for (const auto& s : rec["supports"]) sup += (sup.empty() ? "" : ";") + s.get<std::string>();
      episode_seconds += rec.value("seconds", 0.0);
      csv += std::to_string(ep.index) + "," + std::to_string(ep.class_id) + "," + cname + "," +
             rec["query"].get<std::string>() + "," + sup + "," + ir + "," + ia + "," +
             std::to_string(rec.value("seconds", 0.0)) + ",ok\n";
      fs::path g = out_ / "grids" / ("episode_" + pad6(ep.index) + ".png");
      if (fs::exists(g)) grid_files.push_back("grids/" + g.filename().string());
    }
    if (missing > 0) {
      std::string msg = std::to_string(missing) + " episode(s) are not done yet (other shards, or an interrupted "
                        "run); `difss-host aggregate " + out_.string() + "` writes the results once they are";
      logger()->info("{}", msg);
      return {true, false, out_, msg};
    }
    auto metrics_json = [&](const data::IoUAccumulator& acc) {
      json j = acc.to_json();
      for (auto& pc : j["per_class"]) pc["name"] = ds_->class_info(pc["class_id"]).name;
      j["episodes"] = acc.episodes();
      return j;
    };
    // HSNet's mIoU averages over all evaluation classes, counting a class without episodes as 0:
    // say so when a run is too short to visit every class.
    std::set<int> visited;
    for (const auto& ep : episodes) visited.insert(ep.class_id);
    json unvisited = json::array();
    for (int c : classes)
      if (!visited.count(c)) unvisited.push_back(ds_->class_info(c).name);
    if (!unvisited.empty())
      logger()->warn("{} of {} classes have no episode and count as IoU 0 in mIoU (HSNet's definition): {}; {}",
                     unvisited.size(), classes.size(), unvisited.dump(), ds_->coverage_advice());
    json metrics = json::object();
    if (acc_real.episodes() > 0) metrics["real_only"] = metrics_json(acc_real);
    if (with_aux > 0) metrics["with_aux"] = metrics_json(acc_aux);
    if (acc_fg.episodes() > 0) metrics["baseline_all_foreground"] = metrics_json(acc_fg);
    if (acc_bg.episodes() > 0) metrics["baseline_all_background"] = metrics_json(acc_bg);
    json plugins = json::object();
    for (const auto* st : {&p_.condition, &p_.generator, &p_.segmenter})
      if (*st && (*st)->info)
        plugins[(*st)->section] = {{"id", (*st)->info->id},
                                   {"version", (*st)->info->descriptor->version},
                                   {"library", (*st)->info->library.string()}};
    json results = {{"name", p_.name},
                    {"mode", "evaluate"},
                    {"difss_version", DIFSS_VERSION},
                    {"pipeline", p_.resolved_json()},
                    {"protocol", protocol_record(p_)},
                    {"dataset", ds_->describe()},
                    {"plugins", plugins},
                    {"aux_per_support", per_support_},
                    {"metrics", metrics},
                    {"counts", {{"episodes", episodes.size()}, {"skipped", skipped},
                                {"aux_generated_this_run", generated_}, {"aux_fallbacks", fallbacks_},
                                {"aux_declined", declined_}}},
                    {"skipped", skipped_list},
                    {"classes_without_episodes", unvisited},
                    {"timing", {{"load_seconds", load_seconds_}, {"loop_seconds_this_run", loop_seconds},
                                {"generation_seconds_this_run", gen_seconds_},
                                {"processes", team_.describe()},
                                {"mean_episode_seconds", episodes.size() > skipped ? episode_seconds / double(episodes.size() - skipped) : 0.0}}}};
    if (ds_->kind() == "synthetic") results["note"] = kHonestyNote;
    if (json seeds = per_seed_metrics(p_, *ds_, records, episodes); !seeds.is_null()) results["per_seed"] = seeds;
    data::write_file_atomic(out_ / "episodes.csv", csv);
    write_json(out_ / "results.json", results);
    write_html_report(out_, results, grid_files);
    print_table(metrics);
    if (results.contains("per_seed")) print_per_seed(results["per_seed"]);
    return {true, true, out_, ""};
  }

  void print_table(const json& m) {
    auto pct = [](const json& v) {
      char b[16];
      std::snprintf(b, sizeof b, "%6.2f", v.get<double>() * 100);
      return std::string(b);
    };
    std::printf("\n%-22s %8s %8s %9s\n", "supports", "mIoU", "FB-IoU", "episodes");
    if (m.contains("real_only"))
      std::printf("%-22s %8s %8s %9llu\n", "real only", pct(m["real_only"]["miou"]).c_str(),
                  pct(m["real_only"]["fbiou"]).c_str(), (unsigned long long)m["real_only"]["episodes"].get<uint64_t>());
    if (m.contains("with_aux"))
      std::printf("%-22s %8s %8s %9llu\n", ("real + " + std::to_string(per_support_) + " aux/support").c_str(),
                  pct(m["with_aux"]["miou"]).c_str(), pct(m["with_aux"]["fbiou"]).c_str(),
                  (unsigned long long)m["with_aux"]["episodes"].get<uint64_t>());
    for (const auto& [key, label] : {std::pair<const char*, const char*>{"baseline_all_foreground", "(every pixel object)"},
                                     {"baseline_all_background", "(no pixel object)"}})
      if (m.contains(key))
        std::printf("%-22s %8s %8s %9llu\n", label, pct(m[key]["miou"]).c_str(), pct(m[key]["fbiou"]).c_str(),
                    (unsigned long long)m[key]["episodes"].get<uint64_t>());
    if (ds_->kind() == "synthetic") std::printf("\n%s\n", kHonestyNote);
    std::printf("\nresults: %s\nreport:  %s\n", (out_ / "results.json").string().c_str(),
                (out_ / "index.html").string().c_str());
    std::fflush(stdout);
  }

  const Pipeline& p_;
  RunOptions opt_;
  fs::path out_;
  Team& team_;
  std::exception_ptr failure_;  // what stopped this process's work loop, rethrown after gather
  std::unique_ptr<data::Dataset> ds_;
  std::unique_ptr<data::AuxSupportStore> store_;
  std::unique_ptr<ConditionInstance> cond_;
  std::unique_ptr<SamplerInstance> sampler_;
  std::unique_ptr<SegmenterInstance> seg_;
  int per_support_ = 0;
  size_t generated_ = 0, fallbacks_ = 0;
  double gen_seconds_ = 0, load_seconds_ = 0;
  size_t declined_ = 0;  // supports a plugin declined with DIFSS_SKIP
  EvaluationSize eval_size_;
};

}  // namespace

RunSummary run(const Pipeline& p, const RunOptions& options) {
  if (p.evaluation.repeats > 1) return run_repeats(p, options);  // calls run() once per seed
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
    throw ConfigError("invalid shard " + std::to_string(options.shard_index) + "/" + std::to_string(options.shard_count));
  TeamOptions to;
  to.shard_index = options.shard_index;
  to.shard_count = options.shard_count;
  to.use_mpi = options.use_mpi && !options.aggregate_only;
  auto team = make_team(to);
  if (team->size() > 1 && options.shard_count > 1)
    throw ConfigError("--shard and an MPI launch both divide the work; give one (under mpirun, leave out --shard)");
  Runner r(p, options, *team);
  return r.run();
}

}  // namespace difss

// `difss-tiny-tool train <diffusion|fss> [--key value ...]`: argument parsing, progress, manifests.
#include <difss/train/train.hpp>

#include <difss/core/threads.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/tiny/diffusion.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "train_common.hpp"

namespace difss::train {

namespace {

const char* const kUsage =
    "usage: difss-tiny-tool train <diffusion|fss> [options]\n"
    "  common:    --seed N (0)  --steps N  --batch N  --lr X  --threads N (1)  --out DIR\n"
    "             --repro-steps N (30: the short run recorded as the reproducibility check; 0 = skip)\n"
    "             --world classic|varied (classic: the synthetic world the committed defaults used)\n"
    "  diffusion: --size N (64)  --eval-supports N (24)\n"
    "             --evaluate FILE: only evaluate that checkpoint (mask-following IoU, appearance spread; JSON)\n"
    "  fss:       --fold K (0)  --size N (64)  --eval-episodes N (200)\n"
    "             --evaluate FILE: only evaluate that checkpoint (prints JSON)\n"
    "             --plugin-path DIR: where the tiny-fss plugin the evaluation runs is (else the\n"
    "             host's search path: DIFSS_PLUGIN_PATH, <exe>/../lib/difss/plugins, ...)\n"
    "Writes DIR/<model>.safetensors and DIR/manifest.json. Defaults reproduce the committed models:\n"
    "  difss-tiny-tool train diffusion --out plugins/sampler/tiny-controlnet/models\n"
    "  difss-tiny-tool train fss --out plugins/segmenter/tiny-fss/models\n";

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long integer(const std::string& k, long long def, long long lo, long long hi) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    size_t pos = 0;
    long long v = 0;
    try {
      v = std::stoll(it->second, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != it->second.size() || v < lo || v > hi)
      throw std::invalid_argument("--" + k + " " + it->second + ": expected an integer in " + std::to_string(lo) +
                                  ".." + std::to_string(hi));
    return v;
  }
  double real(const std::string& k, double def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(it->second, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != it->second.size() || !(v > 0)) throw std::invalid_argument("--" + k + " " + it->second + ": expected a positive number");
    return v;
  }
};

Args parse(int argc, char** argv, const std::set<std::string>& known) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + k + "'");
    k = k.substr(2);
    std::string v;
    if (auto eq = k.find('='); eq != std::string::npos) {
      v = k.substr(eq + 1);
      k = k.substr(0, eq);
    } else {
      if (i + 1 >= argc) throw std::invalid_argument("--" + k + " needs a value");
      v = argv[++i];
    }
    if (!known.count(k)) throw std::invalid_argument("unknown option --" + k);
    a.kv[k] = v;
  }
  return a;
}

std::string command_line(int argc, char** argv) {
  std::string s = "difss-tiny-tool train";
  for (int i = 0; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

// Prints a progress line every `every` steps (and the last).
std::function<void(int, double)> printer(const char* what, int steps) {
  auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  auto run = std::make_shared<double>(0.0);
  const int every = std::max(1, steps / 40);
  return [=](int step, double loss) {
    *run = step == 0 ? loss : 0.98 * *run + 0.02 * loss;
    if ((step + 1) % every == 0 || step + 1 == steps) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
      std::fprintf(stderr, "%s step %d/%d  loss %.4f (smoothed %.4f)  %.1f s\n", what, step + 1, steps, loss, *run, s);
    }
  };
}

nlohmann::json losses_json(const LossLog& log) {
  nlohmann::json j = nlohmann::json::array();
  const size_t every = std::max<size_t>(1, log.loss.size() / 50);
  for (size_t i = 0; i < log.loss.size(); i += every) j.push_back({{"step", i + 1}, {"loss", log.loss[i]}});
  return j;
}

// --world classic|varied (checked here so a typo fails before any training).
std::string world_arg(const Args& a) {
  const std::string w = a.get("world", "classic");
  data::synthetic_world(w);
  return w;
}

int train_diffusion_cmd(int argc, char** argv) {
  const Args a = parse(argc, argv, {"seed", "steps", "batch", "lr", "threads", "out", "size", "eval-supports", "repro-steps", "world", "evaluate"});
  if (a.kv.count("evaluate")) {  // evaluate an existing checkpoint, print JSON
    configure_threads(int(a.integer("threads", 1, 1, 1024)));
    const DiffusionEvaluation ev =
        evaluate_diffusion(tiny::load_tiny_diffusion(a.get("evaluate", "")), world_arg(a),
                           int(a.integer("eval-supports", 24, 1, 100000)), std::uint64_t(a.integer("seed", 0, 0, (1LL << 62))));
    std::printf("%s\n", nlohmann::json{{"mask_iou", ev.mask_iou}, {"real_mask_iou", ev.real_mask_iou},
                                       {"sample_spread", ev.sample_spread}, {"real_spread", ev.real_spread}}
                            .dump(2)
                            .c_str());
    return 0;
  }
  DiffusionTrainOptions o;
  o.seed = std::uint64_t(a.integer("seed", 0, 0, (1LL << 62)));
  o.steps = int(a.integer("steps", o.steps, 1, 10000000));
  o.batch = int(a.integer("batch", o.batch, 1, 4096));
  o.lr = a.real("lr", o.lr);
  o.threads = int(a.integer("threads", 1, 1, 1024));
  o.size = int(a.integer("size", o.size, 16, 256));
  o.eval_supports = int(a.integer("eval-supports", o.eval_supports, 0, 100000));
  o.world = world_arg(a);
  o.out = a.get("out", "");
  const int repro = int(a.integer("repro-steps", 30, 0, 100000));
  nlohmann::json m = manifest_header(command_line(argc, argv), o.seed, o.threads);
  m["model"] = "tiny-controlnet";
  if (repro > 0) {  // the short run a test repeats: its loss curve must come out the same
    DiffusionTrainOptions q = o;
    q.steps = repro;
    q.out.clear();
    q.eval_supports = 0;
    const DiffusionTrainResult rr = train_diffusion(q);
    m["reproducibility_check"] = {{"steps", repro},
                                  {"batch", q.batch},
                                  {"lr", q.lr},
                                  {"size", q.size},
                                  {"seed", q.seed},
                                  {"first_loss", rr.log.loss.front()},
                                  {"mean_loss", rr.log.mean_last(repro)},
                                  {"last_loss", rr.log.loss.back()},
                                  {"tolerance_rel", 1e-3}};
    std::fprintf(stderr, "reproducibility check: %d steps, mean loss %.6f\n", repro, rr.log.mean_last(repro));
  }
  o.on_step = printer("diffusion", o.steps);
  const DiffusionTrainResult r = train_diffusion(o);
  m["data"] = {{"dataset", "synthetic"}, {"world", o.world}, {"split", "all"}, {"stream", "training"},
               {"note", "all 20 classes: the generator stands in for Stable Diffusion, which has seen the novel classes"}};
  m["training"] = {{"steps", o.steps}, {"batch", o.batch}, {"lr", o.lr}, {"warmup", o.warmup},
                   {"class_dropout", o.class_dropout}, {"size", o.size}, {"ema_decay", 0.995},
                   {"final_loss", r.final_loss}, {"seconds", r.seconds}, {"losses", losses_json(r.log)}};
  m["evaluation"] = {{"supports", o.eval_supports},
                     {"what", "mean IoU between the support mask and the pixels of the generated image coloured like the "
                              "class's palette (data::synthetic_palette_mask); DDIM 20 steps, guidance 2, seg-palette control; "
                              "real images of the families score 0.88-0.98 with the same measure"},
                     {"mask_iou", r.mask_iou}};
  if (o.world != "classic") {
    m["evaluation"]["what"] = "mean IoU between the support mask and the saturated pixels of the generated image "
                              "(data::synthetic_palette_mask class 0: objects are saturated, backgrounds are not; "
                              "distractors count against it); DDIM 20 steps, guidance 2, seg-palette control";
    m["evaluation"]["real_mask_iou"] = r.real_mask_iou;
    m["evaluation"]["appearance_spread"] = {
        {"what", "mean pairwise total-variation distance of the 4x4x4 RGB histograms inside the mask: 4 samples "
                 "for one support vs 4 real images of its class (0 = same colours, 1 = disjoint)"},
        {"samples", r.sample_spread},
        {"real", r.real_spread}};
  }
  std::fprintf(stderr, "diffusion: final loss %.4f, mask-following IoU %.3f (real %.3f), spread %.3f (real %.3f), %.0f s\n",
               r.final_loss, r.mask_iou, r.real_mask_iou, r.sample_spread, r.real_spread, r.seconds);
  if (!o.out.empty()) {
    m["files"] = {"tiny_controlnet.safetensors"};
    write_text_file((std::filesystem::path(o.out) / "manifest.json").string(), m.dump(2) + "\n");
    std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  }
  return 0;
}

int train_fss_cmd(int argc, char** argv);

std::vector<std::string> data_classes(const std::string& split, int fold, const std::string& world) {
  std::vector<std::string> v;
  for (int id : data::synthetic_split_classes(split, fold))
    v.push_back(data::synthetic_classes(data::synthetic_world(world))[size_t(id - 1)].name);
  return v;
}

}  // namespace

int run_train(int argc, char** argv) {
  if (argc < 1 || std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h") {
    std::fputs(kUsage, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  const std::string what = argv[0];
  try {
    if (what == "diffusion") return train_diffusion_cmd(argc, argv);
    if (what == "fss") return train_fss_cmd(argc, argv);
    std::fprintf(stderr, "train: unknown model '%s'\n%s", what.c_str(), kUsage);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "train %s: %s\n%s", what.c_str(), e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train %s: %s\n", what.c_str(), e.what());
    return 1;
  }
}

namespace {

int train_fss_cmd(int argc, char** argv) {
  const Args a = parse(argc, argv, {"seed", "steps", "batch", "lr", "threads", "out", "size", "fold", "eval-episodes", "repro-steps", "evaluate", "plugin-path", "world"});
  const std::vector<std::string> plugin_paths = a.kv.count("plugin-path") ? std::vector<std::string>{a.get("plugin-path", "")}
                                                                          : std::vector<std::string>{};
  if (a.kv.count("evaluate")) {  // evaluate an existing checkpoint, print JSON
    const FssEvaluation ev = evaluate_fss_checkpoint(a.get("evaluate", ""), int(a.integer("fold", 0, 0, 3)),
                                                     int(a.integer("eval-episodes", 200, 1, 100000)), plugin_paths,
                                                     world_arg(a));
    std::printf("%s\n", nlohmann::json{{"novel_miou", ev.novel_miou}, {"novel_fbiou", ev.novel_fbiou},
                                       {"base_miou", ev.base_miou}, {"novel_per_class_iou", ev.novel_per_class}}
                            .dump(2)
                            .c_str());
    return 0;
  }
  FssTrainOptions o;
  o.seed = std::uint64_t(a.integer("seed", 0, 0, (1LL << 62)));
  o.steps = int(a.integer("steps", o.steps, 1, 10000000));
  o.batch = int(a.integer("batch", o.batch, 1, 4096));
  o.lr = a.real("lr", o.lr);
  o.threads = int(a.integer("threads", 1, 1, 1024));
  o.size = int(a.integer("size", o.size, 32, 1024));
  o.fold = int(a.integer("fold", 0, 0, 3));
  o.eval_episodes = int(a.integer("eval-episodes", o.eval_episodes, 0, 100000));
  o.out = a.get("out", "");
  o.plugin_paths = plugin_paths;
  o.world = world_arg(a);
  const int repro = int(a.integer("repro-steps", 30, 0, 100000));
  nlohmann::json m = manifest_header(command_line(argc, argv), o.seed, o.threads);
  m["model"] = "tiny-fss";
  if (repro > 0) {
    FssTrainOptions q = o;
    q.steps = repro;
    q.out.clear();
    q.eval_episodes = 0;
    const FssTrainResult rr = train_fss(q);
    m["reproducibility_check"] = {{"steps", repro},     {"batch", q.batch},
                                  {"lr", q.lr},         {"size", q.size},
                                  {"fold", q.fold},     {"seed", q.seed},
                                  {"first_loss", rr.log.loss.front()},
                                  {"mean_loss", rr.log.mean_last(repro)},
                                  {"last_loss", rr.log.loss.back()},
                                  {"tolerance_rel", 1e-3}};
    std::fprintf(stderr, "reproducibility check: %d steps, mean loss %.6f\n", repro, rr.log.mean_last(repro));
  }
  o.on_step = printer("fss", o.steps);
  const FssTrainResult r = train_fss(o);
  const auto base = nlohmann::json(data_classes("trn", o.fold, o.world)),
             novel = nlohmann::json(data_classes("val", o.fold, o.world));
  m["data"] = {{"dataset", "synthetic"}, {"world", o.world}, {"fold", o.fold}, {"split", "trn"}, {"stream", "training"},
               {"base_classes", base}, {"novel_classes", novel}};
  m["training"] = {{"steps", o.steps}, {"batch", o.batch}, {"lr", o.lr}, {"warmup", o.warmup}, {"shots", 1},
                   {"size", o.size}, {"final_loss", r.final_loss}, {"seconds", r.seconds},
                   {"losses", losses_json(r.log)}};
  m["evaluation"] = {{"episodes", o.eval_episodes},
                     {"protocol", "1-shot, dataset synthetic split val (novel classes of the fold), images_per_class = "
                                  "episodes / 5 (each image once as query, HSNet's sequential protocol), episode seed 0, "
                                  "HSNet's mIoU / FB-IoU; base: the same number of episodes on the base classes' evaluation images"},
                     {"novel_miou", r.novel_miou},
                     {"novel_fbiou", r.novel_fbiou},
                     {"base_miou", r.base_miou}};
  std::fprintf(stderr, "fss: final loss %.4f, novel mIoU %.2f FB-IoU %.2f, base mIoU %.2f, %.0f s\n", r.final_loss,
               100 * r.novel_miou, 100 * r.novel_fbiou, 100 * r.base_miou, r.seconds);
  if (!o.out.empty()) {
    m["files"] = {"tiny_fss.safetensors"};
    write_text_file((std::filesystem::path(o.out) / "manifest.json").string(), m.dump(2) + "\n");
    std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  }
  return 0;
}

}  // namespace

}  // namespace difss::train

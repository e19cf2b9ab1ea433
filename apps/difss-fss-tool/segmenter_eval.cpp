// `difss-fss-tool eval`: a segmenter plugin on a dataset's fixed episodes, run by the host's
// runner (difss::evaluate_segmenter), so its numbers are those of an equivalent pipeline.
#include <difss/core/errors.hpp>
#include <difss/core/evaluate.hpp>
#include <difss/core/param_args.hpp>
#include <difss/core/threads.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "engine_args.hpp"
#include "segmenter_bench.hpp"

namespace difss::fss {

int run_segmenter_eval(int argc, char** argv) {
  CLI::App app{"Evaluates a few-shot segmenter plugin (mIoU, FB-IoU as HSNet, with the trivial baselines) on "
               "fixed episodes, through difss-host's runner"};
  SegmenterEvaluation e;
  e.segmenter = "org.difss.segmenter.prototype";
  e.support_sampling = "distinct";
  std::vector<std::string> params, options, plugin_paths;
  std::string out;
  int threads = 0;
  app.add_option("--segmenter", e.segmenter, "segmenter plugin id")->capture_default_str();
  app.add_option("--param,-p", params, "segmenter parameter NAME=VALUE (repeatable)");
  app.add_option("--dataset", e.dataset, "dataset kind (yolo-seg, folder, pascal5i, synthetic, ...)")->required();
  app.add_option("--root", e.root, "dataset root");
  app.add_option("--split", e.split, "split")->capture_default_str();
  app.add_option("--fold", e.fold, "fold")->capture_default_str();
  app.add_option("--option,-o", options, "dataset option KEY=VALUE (repeatable)");
  app.add_option("--shots", e.shots, "K")->capture_default_str();
  app.add_option("--episodes", e.episodes, "episode count (0 = the dataset's default)")->capture_default_str();
  app.add_option("--seed", e.seed, "episode seed")->capture_default_str();
  app.add_option("--sampling", e.support_sampling, "support sampling: hsnet | distinct")->capture_default_str();
  app.add_option("--out", out, "run folder (default runs/eval-<dataset>-<K>shot-seed<S>); re-running resumes");
  app.add_option("--plugin-path", plugin_paths, "extra plugin folder or file (repeatable, searched first)");
  app.add_option("--threads", threads, "compute threads (0 = all cores)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    return app.exit(err) == 0 ? 0 : 2;
  }
  try {
    for (const auto& o : options) e.options.insert(split_key_value(o));
    e.name = "eval-" + e.dataset + "-" + std::to_string(e.shots) + "shot-seed" + std::to_string(e.seed);
    e.output = std::filesystem::absolute(out.empty() ? "runs/" + e.name : out);
    DiscoveryOptions discovery;
    for (const auto& p : plugin_paths) discovery.plugin_paths.emplace_back(p);
    Registry reg;
    reg.discover(discovery);
    if (const PluginInfo* info = reg.find(e.segmenter)) e.params = params_from_args(*info->descriptor, params);
    configure_threads(threads);
    evaluate_segmenter(e, reg);
    return 0;
  } catch (const ConfigError& err) {
    std::fprintf(stderr, "%s\n", err.what());
    return 2;
  } catch (const std::invalid_argument& err) {
    std::fprintf(stderr, "error: %s\n", err.what());
    return 2;
  } catch (const std::exception& err) {
    std::fprintf(stderr, "error: %s\n", err.what());
    return 1;
  }
}

}  // namespace difss::fss

// difss-host: run DifFSS pipelines and inspect plugins.
//
//   difss-host --pipeline FILE           run a pipeline (under mpirun: shared among the ranks)
//   difss-host aggregate RUN_DIR         results of a run shared by --shard processes
//   difss-host validate FILE             check a pipeline and its dataset's files without running it
//   difss-host dataset inspect FILE      classes, images, groups, foreground share; small classes
//   difss-host plugins list [--verbose]  what is installed (and what was rejected, and why)
//   difss-host plugins inspect ID        a plugin's parameters and ports
//   difss-host bench ID [options]        time a plugin's calls (latency, calls/s, peak RSS)
#include <CLI/CLI.hpp>

#include <difss/core/compute_env.hpp>
#include <difss/core/errors.hpp>
#include <difss/core/host_services.hpp>
#include <difss/core/log.hpp>
#include <difss/core/registry.hpp>
#include <difss/core/team.hpp>
#include <difss/core/threads.hpp>

#include <iostream>

#include "commands.hpp"

#ifndef DIFSS_VERSION
#define DIFSS_VERSION "0.0.0"
#endif

using namespace difss;

int main(int argc, char** argv) {
  // First of all: OpenBLAS may have chosen slower kernels than this CPU runs (compute_env.hpp).
  reexec_for_better_blas(argv);
  // Before anything starts threads: MPI is initialised here when an MPI launcher started us.
  const int world = mpi_init_if_launched(&argc, &argv);
  // In an MPI job, a rank that fails alone must not leave the others waiting for it.
  auto finish = [world](int code) {
    if (code != cli::kExitOk && world > 1) {
      logger()->error("ending the MPI job (exit code {})", code);
      mpi_abort(code);
    }
    return code;
  };
  CLI::App app{"difss-host " DIFSS_VERSION
               " — DifFSS few-shot segmentation with diffusion-generated auxiliary supports"};
  app.set_version_flag("--version", std::string("difss-host ") + DIFSS_VERSION + " (plugin ABI " +
                                        std::to_string(DIFSS_ABI_VERSION_MAJOR) + "." +
                                        std::to_string(DIFSS_ABI_VERSION_MINOR) + ")");
  app.footer(
      "Exit codes: 0 success, 1 a run or plugin call failed, 2 invalid command line or pipeline,\n"
      "130 cancelled (Ctrl-C). Plugins are searched in --plugin-path, DIFSS_PLUGIN_PATH,\n"
      "<exe>/../lib/difss/plugins and the install prefix.");

  std::string pipeline_file, log_level = "info";
  std::vector<std::string> plugin_paths;
  int threads = 0;
  std::string shard;
  app.add_option("--pipeline,-p", pipeline_file, "Run the pipeline in this TOML file");
  app.add_option("--shard", shard,
                 "Run only items with index % N == K (K/N, e.g. 0/4), or `auto` from Slurm/PMI variables");
  bool force_restart = false, resume_anyway = false, gpu_per_rank = false;
  app.add_flag("--gpu-per-rank", gpu_per_rank,
               "Give each rank of a node its own GPU (CUDA_VISIBLE_DEVICES narrowed to the local rank's entry)");
  app.add_flag("--force-restart", force_restart,
               "Empty the run folder first (its inputs or pipeline changed and you want a new run)");
  app.add_flag("--resume-anyway", resume_anyway,
               "Resume although the dataset files or plugin files changed since the run started");
  app.add_option("--plugin-path", plugin_paths, "Extra plugin folder or file (repeatable, searched first)");
  app.add_option("--threads", threads, "Compute threads (0 = the pipeline's setting or all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* aggregate = app.add_subcommand(
      "aggregate", "Write results.json, the CSV and the report of a run shared by --shard processes");
  std::string aggregate_dir;
  aggregate->add_option("run_dir", aggregate_dir, "The run folder ([pipeline] output)")->required();

  auto* ablation = app.add_subcommand(
      "ablation", "Run variants of a pipeline at several seeds: one table and a plot (docs/EMBEDDED_DEFAULT.md)");
  std::string ablation_file;
  ablation->add_option("file", ablation_file, "Ablation TOML ([ablation] + [[variant]]s)")->required();

  auto* dataset = app.add_subcommand("dataset", "Look at a pipeline's dataset");
  dataset->require_subcommand(1);
  auto* inspect_data = dataset->add_subcommand(
      "inspect", "Classes, images, groups, foreground fraction, and warnings for small classes");
  std::string dataset_file;
  inspect_data->add_option("file", dataset_file, "Pipeline TOML")->required();

  auto* validate = app.add_subcommand("validate", "Check a pipeline (plugins, parameters, ports) without running it");
  std::string validate_file;
  bool print_keys = false;
  validate->add_option("file", validate_file, "Pipeline TOML");
  validate->add_flag("--keys", print_keys, "Print the reference of every host-level pipeline key (Markdown)");
  bool no_data = false;
  validate->add_flag("--no-data", no_data,
                     "Do not open the dataset (a pipeline whose data is not on this machine yet)");

  auto* plugins = app.add_subcommand("plugins", "List or inspect plugins");
  plugins->require_subcommand(1);
  auto* list = plugins->add_subcommand("list", "List plugins: kind, id, version");
  bool verbose = false;
  list->add_flag("--verbose,-v", verbose, "Also show the search path and every rejected candidate with its reason");
  auto* inspect = plugins->add_subcommand("inspect", "Show a plugin's descriptor, parameters and ports");
  std::string inspect_id;
  inspect->add_option("id", inspect_id, "Plugin id")->required();

  auto* bench = app.add_subcommand("bench", "Time any plugin by id through the ABI: per-call latency, calls/s, peak RSS");
  cli::BenchOptions bench_opts;
  bench->add_option("id", bench_opts.id, "Plugin id (`plugins list`)")->required();
  bench->add_option("--runs", bench_opts.runs, "Timed calls")->capture_default_str()->check(CLI::Range(1, 1000000));
  bench->add_option("--warmup", bench_opts.warmup, "Untimed calls first")->capture_default_str()->check(CLI::Range(0, 1000000));
  bench->add_option("--size", bench_opts.size, "Synthetic input size WxH")->capture_default_str();
  bench->add_option("--images", bench_opts.images,
                    "Images per sampler call (DifFSS generates 4 per support in one call)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  auto* shots_opt = bench->add_option("--shots", bench_opts.shots, "Supports per call (segmenters)")
                        ->capture_default_str()->check(CLI::Range(1, 1000));
  bench->add_option("--param", bench_opts.params, "Plugin parameter NAME=VALUE (repeatable; overrides the pipeline's)");
  bench->add_option("--pipeline", bench_opts.pipeline,
                    "Inputs from this pipeline's dataset; parameters from its section that names ID");
  bench->add_option("--threads", bench_opts.threads, "Compute threads (0 = --threads before `bench`, else all cores)")
      ->check(CLI::Range(0, 1024));
  bench->fallthrough();  // --plugin-path, --log-level may follow the id too

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? cli::kExitOk : cli::kExitConfig;
  }

  init_logging(log_level);
  if (world > 1) set_log_tag("rank " + std::to_string(mpi_rank()) + "/" + std::to_string(world));
  log_compute_environment();
  if (gpu_per_rank) {
    try {
      logger()->info("--gpu-per-rank: CUDA_VISIBLE_DEVICES={}", assign_gpu_per_local_rank());
    } catch (const std::exception& e) {
      logger()->error("{}", e.what());
      return finish(cli::kExitConfig);
    }
  }
  // Every plugin library's deinit() runs when main returns, after every registry and instance
  // (all created below, inside this scope's callees) is gone.
  struct ShutdownPlugins {
    ~ShutdownPlugins() { shutdown_plugins(); }
  } shutdown_plugins_at_exit;
  DiscoveryOptions discovery;
  for (const auto& p : plugin_paths) discovery.plugin_paths.emplace_back(p);

  try {
    if (*aggregate) return cli::aggregate(discovery, aggregate_dir);
    if (*ablation) return finish(cli::ablation(discovery, ablation_file, threads));
    if (*validate && print_keys) return cli::print_pipeline_keys();
    if (*inspect_data) return cli::dataset_inspect(dataset_file);
    if (*bench) {
      bench_opts.shots_given = shots_opt->count() > 0;
      if (bench_opts.threads == 0) bench_opts.threads = threads;
      return cli::bench(discovery, bench_opts);
    }
    if (*validate && validate_file.empty()) {
      std::cerr << "validate: a pipeline file is required\n";
      return cli::kExitConfig;
    }
    if (*plugins || *validate) {
      Registry reg;
      reg.discover(discovery);
      if (*list) return cli::plugins_list(reg, verbose);
      if (*inspect) return cli::plugins_inspect(reg, inspect_id);
      return cli::validate(reg, validate_file, !no_data);
    }
    if (!pipeline_file.empty())
      return finish(cli::run_pipeline(discovery, pipeline_file, threads, shard, force_restart, resume_anyway));
    std::cout << app.help();
    return cli::kExitConfig;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return finish(cli::kExitConfig);
  } catch (const Cancelled&) {
    logger()->warn("cancelled; finished items are kept, re-run to resume");
    return finish(cli::kExitCancelled);
  } catch (const std::exception& e) {
    logger()->error("{}", e.what());
    return finish(cli::kExitFailure);
  }
}

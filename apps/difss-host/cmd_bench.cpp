// `difss-host bench ID [options]`: per-call latency (median, min, max), calls per second and
// peak memory of any plugin, loaded through the registry and called through the same instance
// wrappers a run uses (so a third-party plugin is measured exactly like ours). Figures are
// printed, never asserted. Inputs: synthetic by default, or the dataset of a pipeline.
#include <difss/core/compute_env.hpp>
#include <difss/core/errors.hpp>
#include <difss/core/instances.hpp>
#include <difss/core/param_args.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/threads.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include <sys/resource.h>

#include "bench_inputs.hpp"
#include "commands.hpp"

namespace difss::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Resident set figures of this process in MiB: "VmHWM" (peak) or "VmRSS" (now), from
// /proc/self/status; the peak falls back to getrusage where /proc is absent.
double memory_mib(const char* key) {
  std::ifstream f("/proc/self/status");
  const std::string k = std::string(key) + ":";
  for (std::string line; std::getline(f, line);)
    if (line.compare(0, k.size(), k) == 0) return std::atof(line.c_str() + k.size()) / 1024.0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

cv::Size parse_size(const std::string& s) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 8 || h < 8 ||
      w > 16384 || h > 16384)
    throw ConfigError("bench: --size " + s + ": expected WxH with sides in 8..16384, e.g. 512x512");
  return {w, h};
}

const PluginInfo& find_plugin(const Registry& reg, const std::string& id) {
  if (const PluginInfo* info = reg.find(id)) return *info;
  std::string hint = "; run `difss-host plugins list --verbose` to see what is available and what was rejected";
  auto close = reg.suggest(id);
  if (!close.empty()) {
    hint = "; did you mean ";
    for (size_t i = 0; i < close.size(); ++i) hint += (i ? " or '" : "'") + close[i] + "'";
    hint += "?";
  }
  throw ConfigError("bench: unknown plugin '" + id + "'" + hint);
}

// The parameters: the pipeline section that names this plugin (if any), then --param on top.
ResolvedParams bench_params(const PluginInfo& plugin, const BenchOptions& o, const Pipeline* p) {
  nlohmann::json raw = nlohmann::json::object();
  std::map<std::string, SourceLoc> locs;
  std::filesystem::path base = std::filesystem::current_path();
  if (p)
    for (const auto* st : {&p->condition, &p->generator, &p->segmenter})
      if (*st && (*st)->plugin == plugin.id) {
        raw = (*st)->raw_params;
        locs = (*st)->param_locs;
        base = p->file.parent_path();
      }
  const nlohmann::json overrides = params_from_args(*plugin.descriptor, o.params);
  for (auto& [k, v] : overrides.items()) {
    raw[k] = v;
    locs.erase(k);
  }
  return resolve_params_or_throw(*plugin.descriptor, raw, "--param", base, locs);
}

// One timed call of the plugin on `in` (outputs are checked by the wrappers, as in a run).
void call_once(Instance& inst, difss_kind kind, const BenchInput& in, uint64_t seed, int images) {
  if (kind == DIFSS_KIND_CONDITION) {
    static_cast<ConditionInstance&>(inst).generate(in.image, in.mask, in.class_id, in.class_name, in.class_set);
  } else if (kind == DIFSS_KIND_SAMPLER) {
    SamplerInstance::Request req;
    req.prompt = "a photo of " + in.class_name;
    req.class_id = in.class_id;
    req.class_name = in.class_name;
    req.seed = seed;
    req.count = images;
    static_cast<SamplerInstance&>(inst).sample(in.control, req);
  } else {
    static_cast<SegmenterInstance&>(inst).segment(in.image, in.support_images, in.support_masks);
  }
}

std::string params_text(const ResolvedParams& params) {
  std::string s;
  for (const auto& it : params.items())
    s += (s.empty() ? "" : ", ") + it.name + " = " + format_value(it.value) + (it.defaulted ? " (default)" : "");
  return s.empty() ? "(none)" : s;
}

}  // namespace

int bench(const DiscoveryOptions& discovery, const BenchOptions& o) {
  if (o.runs < 1 || o.warmup < 0 || o.shots < 1) throw ConfigError("bench: --runs and --shots must be >= 1, --warmup >= 0");
  Registry reg;
  reg.discover(discovery);
  const PluginInfo& plugin = find_plugin(reg, o.id);
  const difss_kind kind = plugin.descriptor->kind;
  std::optional<Pipeline> pipeline;
  if (!o.pipeline.empty()) {
    pipeline = parse_pipeline(o.pipeline);
    resolve_plugins(*pipeline, reg);
  }
  const ResolvedParams params = bench_params(plugin, o, pipeline ? &*pipeline : nullptr);
  const int shots = o.shots_given || !pipeline ? o.shots : pipeline->dataset.shots;

  const int threads = configure_threads(o.threads);  // once, before any plugin is created
  const BenchInputs inputs = pipeline ? dataset_inputs(*pipeline, kind, size_t(std::min(o.runs, 8)), shots)
                                      : synthetic_inputs(kind, parse_size(o.size), shots);
  if (inputs.items.empty()) throw ConfigError("bench: " + o.pipeline + ": the dataset gave no inputs");

  const auto t_load = Clock::now();
  std::unique_ptr<Instance> inst = create_instance(plugin, params);
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  const double loaded_mib = memory_mib("VmRSS");

  const auto& items = inputs.items;
  for (int i = 0; i < o.warmup; ++i) call_once(*inst, kind, items[size_t(i) % items.size()], uint64_t(i), o.images);
  std::vector<double> ms;
  const auto t0 = Clock::now();
  for (int i = 0; i < o.runs; ++i) {
    const auto t = Clock::now();
    call_once(*inst, kind, items[size_t(i) % items.size()], uint64_t(o.warmup + i), o.images);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);

  std::printf("plugin    %s %s (%s) from %s\n", plugin.id.c_str(), plugin.descriptor->version, kind_name(kind),
              plugin.library.string().c_str());
  std::printf("params    %s\n", params_text(params).c_str());
  std::printf("input     %s%s\n", inputs.description.c_str(),
              kind == DIFSS_KIND_SAMPLER ? (", " + std::to_string(o.images) + " image(s) per call").c_str() : "");
  std::printf("threads   %d\n", threads);
  std::printf("compute   %s\n", compute_environment_line().c_str());
  std::printf("load      %.3f s (create the instance)\n", load_s);
  std::printf("calls     %d timed after %d warm-up\n", o.runs, o.warmup);
  std::printf("latency   median %.3f ms   min %.3f ms   max %.3f ms\n", median, sorted.front(), sorted.back());
  std::printf("calls/s   %.2f\n", double(o.runs) / total_s);
  std::printf("peak RSS  %.1f MiB (after loading %.1f MiB)\n", memory_mib("VmHWM"), loaded_mib);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace difss::cli

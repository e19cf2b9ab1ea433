// `difss-host bench conditions|sampler|segmenter [options]`: speed and memory figures of the
// model ports (medians, peak RSS), printed, never asserted. Each benchmark lives beside the
// plugins it measures; this file only forwards to it. A benchmark whose plugins were not built
// says so.
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"

#ifdef DIFSS_HAVE_CONDITION_BENCH
#include "condition_bench.hpp"
#endif
#ifdef DIFSS_HAVE_SAMPLER_BENCH
#include <difss/sd/bench.hpp>
#endif
#ifdef DIFSS_HAVE_SEGMENTER_BENCH
#include <difss/fss/bench.hpp>
#endif
#ifdef DIFSS_HAVE_TRAIN
#include <difss/train/train.hpp>
#endif

namespace difss::cli {

namespace {
int not_built(const std::string& what) {
  std::cerr << "difss-host: the " << what << " benchmark was not built into this host\n";
  return kExitConfig;
}

// argv-style view of the arguments after the benchmark's name, for benchmarks with their own
// option parser.
struct Argv {
  std::vector<std::string> store;
  std::vector<char*> ptrs;
  Argv(const std::string& prog, const std::vector<std::string>& args) : store{prog} {
    store.insert(store.end(), args.begin(), args.end());
    for (auto& s : store) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return int(store.size()); }
  char** argv() { return ptrs.data(); }
};
}  // namespace

int bench(const std::string& which, const std::vector<std::string>& args) {
  if (which == "conditions") {
#ifdef DIFSS_HAVE_CONDITION_BENCH
    bench::ConditionBenchArgs a;
    for (size_t i = 0; i < args.size(); ++i) {
      auto next = [&](const char* flag) -> std::string {
        if (i + 1 >= args.size()) throw ConfigError(std::string("bench conditions: ") + flag + " needs a value");
        return args[++i];
      };
      const std::string& f = args[i];
      if (f == "--help" || f == "-h") {
        std::cout << "usage: difss-host bench conditions --image F [--mask F] [--resolution N (512)] [--runs N]\n"
                     "         [--hed-checkpoint F] [--pidinet-checkpoint F] [--only ID]... [--dump-dir D]\n"
                     "Per-image time of every condition generator and peak memory.\n";
        return 0;
      }
      if (f == "--image") a.image = next("--image");
      else if (f == "--mask") a.mask = next("--mask");
      else if (f == "--resolution") a.resolution = std::stoi(next("--resolution"));
      else if (f == "--runs") a.runs = std::stoi(next("--runs"));
      else if (f == "--hed-checkpoint") a.hed_checkpoint = next("--hed-checkpoint");
      else if (f == "--pidinet-checkpoint") a.pidinet_checkpoint = next("--pidinet-checkpoint");
      else if (f == "--only") a.only.push_back(next("--only"));
      else if (f == "--dump-dir") a.dump_dir = next("--dump-dir");
      else
        throw ConfigError("bench conditions: unknown option '" + f +
                          "' (options: --image F --mask F --resolution N --runs N --hed-checkpoint F "
                          "--pidinet-checkpoint F --only ID --dump-dir D)");
    }
    if (a.image.empty()) throw ConfigError("bench conditions: --image is required");
    return bench::run_condition_bench(a, std::cout);
#else
    return not_built("conditions");
#endif
  }
  if (which == "sampler") {
#ifdef DIFSS_HAVE_SAMPLER_BENCH
    Argv a("difss-host bench sampler", args);
    return sd::run_sampler_bench(a.argc(), a.argv());
#else
    return not_built("sampler");
#endif
  }
  if (which == "segmenter") {
#ifdef DIFSS_HAVE_SEGMENTER_BENCH
    Argv a("difss-host bench segmenter", args);
    return fss::run_segmenter_bench(a.argc(), a.argv());
#else
    return not_built("segmenter");
#endif
  }
  std::cerr << "difss-host bench: unknown benchmark '" << which << "' (conditions, sampler, segmenter)\n";
  return kExitConfig;
}

// `difss-host train diffusion|fss [options]` forwards to the trainers of the embedded default.
int train(const std::vector<std::string>& args) {
#ifdef DIFSS_HAVE_TRAIN
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  return train::run_train(int(copy.size()), argv.data());
#else
  (void)args;
  return not_built("training");
#endif
}

}  // namespace difss::cli

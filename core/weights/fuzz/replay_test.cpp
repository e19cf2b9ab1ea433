// Replays the fuzz entry points under g++ in the normal test suite: every seed file, then
// deterministic mutations of them (bit flips, interesting values, truncations, insertions,
// deletions, duplications, splices). Each input also goes through the full load (tensors
// included). The only acceptable outcomes are success and WeightError.
//
// DIFSS_FUZZ_REPLAY_ITERATIONS (default 20000) and DIFSS_FUZZ_REPLAY_SECONDS (default 120)
// bound the run; whichever comes first ends it.
#include "catch_torch.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "difss/weights/weights.hpp"
#include "fuzz_entry.hpp"

namespace fs = std::filesystem;
using namespace difss::weights;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct Rng {  // xorshift64*: deterministic across platforms
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

std::size_t env_number(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

void mutate(Bytes& b, Rng& rng, const std::vector<Bytes>& seeds) {
  static const std::uint64_t kInteresting[] = {0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                               0x7FFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL, 64, 1u << 20};
  const int rounds = 1 + static_cast<int>(rng.below(4));
  for (int r = 0; r < rounds; ++r) {
    const std::size_t pos = rng.below(b.size() + 1);
    switch (rng.below(8)) {
      case 0:  // bit flips
        if (!b.empty())
          for (std::size_t i = 0, n = 1 + rng.below(8); i < n; ++i) b[rng.below(b.size())] ^= static_cast<std::uint8_t>(1u << rng.below(8));
        break;
      case 1:  // one interesting byte
        if (!b.empty()) b[rng.below(b.size())] = static_cast<std::uint8_t>(kInteresting[rng.below(5)]);
        break;
      case 2: {  // an interesting 2/4/8-byte little-endian value (lengths, offsets, counts)
        std::size_t width = std::size_t{2} << rng.below(3);
        if (b.size() < width) break;
        std::size_t at = rng.below(b.size() - width + 1);
        std::uint64_t v = kInteresting[rng.below(std::size(kInteresting))];
        if (rng.below(4) == 0) v = b.size() + rng.below(3);
        for (std::size_t i = 0; i < width; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
        break;
      }
      case 3:  // truncate
        b.resize(rng.below(b.size() + 1));
        break;
      case 4: {  // insert random bytes
        Bytes ins(1 + rng.below(16));
        for (auto& x : ins) x = static_cast<std::uint8_t>(rng.next());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), ins.begin(), ins.end());
        break;
      }
      case 5: {  // delete a range
        std::size_t n = std::min(b.size() - std::min(pos, b.size()), 1 + rng.below(32));
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(pos + n));
        break;
      }
      case 6: {  // duplicate a chunk elsewhere
        if (b.empty()) break;
        std::size_t from = rng.below(b.size());
        std::size_t n = std::min(b.size() - from, 1 + rng.below(64));
        Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(from + n));
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), chunk.begin(), chunk.end());
        break;
      }
      case 7: {  // splice: keep a head, take the tail of another seed
        const Bytes& other = seeds[rng.below(seeds.size())];
        std::size_t from = rng.below(other.size() + 1);
        b.resize(pos);
        b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
    }
  }
}

// Runs every entry on one input; returns whether the full load accepted it.
bool run_one(const Bytes& input) {
  difss_fuzz_torch_checkpoint(input.data(), input.size());
  difss_fuzz_safetensors(input.data(), input.size());
  try {
    StateDict sd = load_from_memory(input.data(), input.size(), "mutant");
    for (const auto& item : sd) {
      // Touch every element through ATen (reads the whole view).
      if (item.tensor.numel() > 0) (void)item.tensor.to(at::kDouble).sum().item<double>();
    }
    return true;
  } catch (const WeightError&) {
    return false;
  }
}

}  // namespace

TEST_CASE("fuzz entry points replayed over seeds and deterministic mutations", "[weights][fuzz]") {
  std::vector<Bytes> seeds;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(DIFSS_WEIGHTS_TEST_DATA)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".pth" && ext != ".ckpt" && ext != ".safetensors") continue;
    std::ifstream f(e.path(), std::ios::binary);
    seeds.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  REQUIRE(seeds.size() >= 8);

  std::size_t seeds_loaded = 0;
  for (const Bytes& s : seeds) seeds_loaded += run_one(s);
  CHECK(seeds_loaded == seeds.size() - 3);  // all but the two malicious files and the Namespace one

  const std::size_t iterations = env_number("DIFSS_FUZZ_REPLAY_ITERATIONS", 20000);
  const auto budget = std::chrono::seconds(env_number("DIFSS_FUZZ_REPLAY_SECONDS", 120));
  const auto start = std::chrono::steady_clock::now();
  Rng rng{0x9E3779B97F4A7C15ULL};
  std::size_t done = 0, accepted = 0;
  for (; done < iterations; ++done) {
    if ((done & 255) == 0 && std::chrono::steady_clock::now() - start > budget) break;
    Bytes input = seeds[rng.below(seeds.size())];
    mutate(input, rng, seeds);
    try {
      accepted += run_one(input);
    } catch (const std::exception& e) {
      FAIL("mutation " << done << ": exception other than WeightError: " << e.what());
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "fuzz replay: " << done << " mutations of " << seeds.size() << " seeds in " << secs << " s, " << accepted
            << " accepted, " << (done - accepted) << " refused with WeightError, 0 other outcomes\n";
  CHECK(done > 0);
}

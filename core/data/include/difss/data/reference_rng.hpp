// Bit-exact replicas of the random generators the official few-shot segmentation protocols draw
// from, so that difss can evaluate on the very same episodes:
//   NumpyRandomState  numpy.random.RandomState (the legacy API; HSNet's np.random.* calls),
//                     as numpy 1.24 implements it
//   PythonRandom      CPython's random.Random (BAM / HDMNet / CyCTR's random.* calls), as
//                     CPython 3.11 implements it
//   TorchCpuGenerator torch's default CPU generator as far as DataLoaders draw from it (torch 1.13),
//                     and torch_worker_numpy_seed: how DataLoader workers seed numpy
// All sit on the same MT19937 core. Verified against sequences produced by the real libraries
// (core/data/tests/data/reference_rng/README.md names the versions and calls).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace difss::data {

// The Mersenne Twister MT19937 (Matsumoto & Nishimura 1998) with the reference seeding routines.
class Mt19937 {
 public:
  static constexpr std::size_t kStateWords = 624;

  explicit Mt19937(std::uint32_t seed = 5489u) { init_genrand(seed); }
  // The reference `init_genrand`: Knuth's multiplier 1812433253.
  void init_genrand(std::uint32_t seed);
  // The reference `init_by_array` (an empty key is treated as {0}).
  void init_by_array(const std::vector<std::uint32_t>& key);
  // The next tempered 32-bit output.
  std::uint32_t next_u32();

 private:
  void twist();
  std::array<std::uint32_t, kStateWords> state_{};
  std::size_t pos_ = kStateWords;
};

// numpy.random.RandomState, legacy seeding and algorithms (numpy/random/mtrand.pyx,
// _mt19937.pyx, src/distributions/distributions.c). Integers are int64 (numpy's default
// `int` dtype on Linux).
class NumpyRandomState {
 public:
  // RandomState(seed) / np.random.seed(seed) with an integer seed in [0, 2^32).
  explicit NumpyRandomState(std::uint32_t seed = 0) { seed_int(seed); }
  // np.random.seed(int): the reference init_genrand of the seed (not init_by_array).
  void seed_int(std::uint32_t seed) { mt_.init_genrand(seed); }
  // np.random.seed(array of uint32): init_by_array.
  void seed_array(const std::vector<std::uint32_t>& key) { mt_.init_by_array(key); }

  std::uint32_t next_uint32() { return mt_.next_u32(); }
  // Two outputs, the first one in the high half (as numpy's mt19937_next64 compiles).
  std::uint64_t next_uint64();
  // random_sample() / rand() / random(): 53-bit double in [0, 1).
  double random_sample();
  // randint(low, high): uniform in [low, high) by masked rejection (legacy, not Lemire).
  std::int64_t randint(std::int64_t low, std::int64_t high);
  // The internal `random_interval(max)`: uniform in [0, max], masked rejection; shuffle's draw.
  std::uint64_t random_interval(std::uint64_t max);

  // shuffle(x): for i = n-1 .. 1, swap x[i] with x[random_interval(i)].
  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) {
      const auto j = static_cast<std::size_t>(random_interval(i));
      if (i != j) std::swap(x[i], x[j]);
    }
  }
  // permutation(n): shuffle(arange(n)).
  std::vector<std::int64_t> permutation(std::int64_t n);
  // choice(n, size, replace) on a population of n, returning indices:
  //   replace=true: randint(0, n, size); replace=false: permutation(n)[:size] (a full shuffle of
  //   n elements even for size 1, which is what HSNet's `np.random.choice(list, 1,
  //   replace=False)` consumes). Throws std::invalid_argument on an empty population or a
  //   sample larger than the population without replacement.
  std::vector<std::int64_t> choice(std::int64_t n, std::int64_t size, bool replace);
  // choice(a, 1, replace=False)[0] as an index into a population of n, without allocating per
  // call beyond a reused buffer.
  std::size_t choice_one_without_replacement(std::size_t n);

 private:
  Mt19937 mt_;
  std::vector<std::int64_t> buffer_;
};

// CPython 3.11 random.Random (Modules/_randommodule.c, Lib/random.py) for integer seeds.
class PythonRandom {
 public:
  // random.seed(n) / Random(n) with an int: |n| split into 32-bit words, least significant
  // first (at least one word), then init_by_array.
  explicit PythonRandom(std::int64_t seed = 0) { seed_int(seed); }
  void seed_int(std::int64_t seed);
  void seed_uint64(std::uint64_t seed);
  // The same for an arbitrary-size |n| given as its 32-bit words, least significant first.
  void seed_words(const std::vector<std::uint32_t>& words);

  // random(): 53-bit double in [0, 1).
  double random();
  // getrandbits(k), 0 <= k <= 64 (0 consumes nothing).
  std::uint64_t getrandbits(int k);
  // _randbelow(n) (n >= 1): rejection on getrandbits(n.bit_length()).
  std::uint64_t randbelow(std::uint64_t n);
  // randrange(stop), randrange(start, stop[, step]); empty ranges and step 0 throw
  // std::invalid_argument as Python raises ValueError.
  std::int64_t randrange(std::int64_t stop);
  std::int64_t randrange(std::int64_t start, std::int64_t stop, std::int64_t step = 1);
  // randint(a, b) = randrange(a, b + 1).
  std::int64_t randint(std::int64_t a, std::int64_t b) { return randrange(a, b + 1); }
  // choice(seq) as an index into a sequence of n (n >= 1).
  std::size_t choice_index(std::size_t n);
  template <typename T>
  const T& choice(const std::vector<T>& seq) {
    return seq[choice_index(seq.size())];
  }
  // sample(range(n), k): k distinct indices in selection order, with CPython's two branches
  // (a pool when n is at most the size of the set it would otherwise need, else a set).
  std::vector<std::size_t> sample_indices(std::size_t n, std::size_t k);
  template <typename T>
  std::vector<T> sample(const std::vector<T>& population, std::size_t k) {
    std::vector<T> out;
    out.reserve(k);
    for (std::size_t i : sample_indices(population.size(), k)) out.push_back(population[i]);
    return out;
  }
  // shuffle(x): for i = n-1 .. 1, swap x[i] with x[_randbelow(i + 1)].
  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) {
      const auto j = static_cast<std::size_t>(randbelow(i + 1));
      std::swap(x[i], x[j]);
    }
  }

 private:
  Mt19937 mt_;
};

// torch's default CPU generator (at::CPUGeneratorImpl): MT19937 seeded by init_genrand with the
// low 32 bits of torch.manual_seed's value. Only what data loading draws is replicated.
//
// A torch.utils.data.DataLoader draws `base_seed = torch.empty((), dtype=torch.int64).random_()`
// (= random_int64()) from it at every iter(). With num_workers = W, batch i is made by worker
// i % W, whose generators were seeded (torch 1.13 _worker_loop) with:
//   random.seed(base_seed + w)        -> PythonRandom::seed_uint64(base_seed + w)
//   torch.manual_seed(base_seed + w)  -> TorchCpuGenerator(base_seed + w)
//   np.random.seed(_generate_state(base_seed, w)) -> seed_array(torch_worker_numpy_seed(...))
// With num_workers = 0 the main process's generators are used directly.
inline constexpr std::uint64_t kTorchDefaultSeed = 67280421310721ull;

class TorchCpuGenerator {
 public:
  explicit TorchCpuGenerator(std::uint64_t seed = kTorchDefaultSeed) { manual_seed(seed); }
  void manual_seed(std::uint64_t seed) { mt_.init_genrand(static_cast<std::uint32_t>(seed)); }
  std::uint32_t random() { return mt_.next_u32(); }
  // Two outputs, the first one in the high half.
  std::uint64_t random64();
  // tensor.random_() of an int64 scalar: random64() mod 2^63 (a DataLoader's base_seed).
  std::int64_t random_int64();

 private:
  Mt19937 mt_;
};

// torch.utils.data._utils.worker._generate_state(base_seed, worker_id): the 4 words worker
// `worker_id` seeds numpy's legacy generator with (init_by_array).
std::vector<std::uint32_t> torch_worker_numpy_seed(std::uint64_t base_seed, std::uint32_t worker_id);

}  // namespace difss::data

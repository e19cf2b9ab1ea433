// Replicas of numpy's legacy RandomState and CPython's random.Random; see reference_rng.hpp.
#include "difss/data/reference_rng.hpp"

#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace difss::data {

namespace {

constexpr std::size_t kN = Mt19937::kStateWords;
constexpr std::size_t kM = 397;
constexpr std::uint32_t kMatrixA = 0x9908b0dfu;
constexpr std::uint32_t kUpper = 0x80000000u;
constexpr std::uint32_t kLower = 0x7fffffffu;

// The smallest all-ones mask >= max (numpy's gen_mask).
std::uint64_t mask_at_least(std::uint64_t max) {
  std::uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  return mask;
}

int bit_length(std::uint64_t n) {
  int k = 0;
  while (n) {
    ++k;
    n >>= 1;
  }
  return k;
}

// Both libraries build a double from two outputs: 27 high bits then 26 (genrand_res53).
double res53(std::uint32_t first, std::uint32_t second) {
  const std::uint32_t a = first >> 5, b = second >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

}  // namespace

// ---- MT19937 ----------------------------------------------------------------------------

void Mt19937::init_genrand(std::uint32_t seed) {
  state_[0] = seed;
  for (std::size_t i = 1; i < kN; ++i)
    state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  pos_ = kN;
}

void Mt19937::init_by_array(const std::vector<std::uint32_t>& key_in) {
  const std::vector<std::uint32_t> key = key_in.empty() ? std::vector<std::uint32_t>{0} : key_in;
  init_genrand(19650218u);
  std::size_t i = 1, j = 0;
  for (std::size_t k = std::max(kN, key.size()); k; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525u)) + key[j] +
                static_cast<std::uint32_t>(j);
    if (++i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
    if (++j >= key.size()) j = 0;
  }
  for (std::size_t k = kN - 1; k; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941u)) -
                static_cast<std::uint32_t>(i);
    if (++i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000u;  // non-zero initial state
  pos_ = kN;
}

void Mt19937::twist() {
  for (std::size_t i = 0; i < kN; ++i) {
    const std::uint32_t y = (state_[i] & kUpper) | (state_[(i + 1) % kN] & kLower);
    state_[i] = state_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  pos_ = 0;
}

std::uint32_t Mt19937::next_u32() {
  if (pos_ >= kN) twist();
  std::uint32_t y = state_[pos_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

// ---- numpy RandomState ------------------------------------------------------------------

std::uint64_t NumpyRandomState::next_uint64() {
  const std::uint64_t high = mt_.next_u32();
  return (high << 32) | mt_.next_u32();
}

double NumpyRandomState::random_sample() {
  const std::uint32_t a = mt_.next_u32();
  return res53(a, mt_.next_u32());
}

std::uint64_t NumpyRandomState::random_interval(std::uint64_t max) {
  if (max == 0) return 0;
  const std::uint64_t mask = mask_at_least(max);
  std::uint64_t value;
  if (max <= 0xffffffffu) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (next_uint64() & mask)) > max) {
    }
  }
  return value;
}

std::int64_t NumpyRandomState::randint(std::int64_t low, std::int64_t high) {
  if (low >= high)
    throw std::invalid_argument("randint: low >= high (" + std::to_string(low) + ", " +
                                std::to_string(high) + ")");
  // numpy's bounded generator on the closed range [0, rng]; rng == 2^32-1 takes a raw output.
  const std::uint64_t rng = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low) - 1;
  std::uint64_t value = 0;
  if (rng == 0) {
    value = 0;
  } else if (rng == 0xffffffffu) {
    value = next_uint32();
  } else if (rng == ~std::uint64_t{0}) {
    value = next_uint64();
  } else {
    // Same masked rejection as random_interval (32-bit outputs when the range fits).
    value = random_interval(rng);
  }
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + value);
}

std::vector<std::int64_t> NumpyRandomState::permutation(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("permutation: negative size " + std::to_string(n));
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  std::iota(out.begin(), out.end(), std::int64_t{0});
  shuffle(out);
  return out;
}

std::vector<std::int64_t> NumpyRandomState::choice(std::int64_t n, std::int64_t size, bool replace) {
  if (size < 0) throw std::invalid_argument("choice: negative size");
  if (n <= 0 && size != 0) throw std::invalid_argument("choice: empty population");
  std::vector<std::int64_t> out;
  if (replace) {
    out.reserve(static_cast<std::size_t>(size));
    for (std::int64_t i = 0; i < size; ++i) out.push_back(randint(0, n));
    return out;
  }
  if (size > n)
    throw std::invalid_argument("choice: cannot take " + std::to_string(size) + " of " +
                                std::to_string(n) + " without replacement");
  out = permutation(n);
  out.resize(static_cast<std::size_t>(size));
  return out;
}

std::size_t NumpyRandomState::choice_one_without_replacement(std::size_t n) {
  if (n == 0) throw std::invalid_argument("choice: empty population");
  buffer_.resize(n);
  std::iota(buffer_.begin(), buffer_.end(), std::int64_t{0});
  shuffle(buffer_);
  return static_cast<std::size_t>(buffer_[0]);
}

// ---- CPython random ---------------------------------------------------------------------

void PythonRandom::seed_int(std::int64_t seed) {
  // |seed| as an unsigned magnitude (also for INT64_MIN).
  const std::uint64_t mag = seed < 0 ? 0 - static_cast<std::uint64_t>(seed) : static_cast<std::uint64_t>(seed);
  std::vector<std::uint32_t> words{static_cast<std::uint32_t>(mag)};
  if (mag >> 32) words.push_back(static_cast<std::uint32_t>(mag >> 32));
  mt_.init_by_array(words);
}

void PythonRandom::seed_uint64(std::uint64_t seed) {
  seed_words({static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
}

void PythonRandom::seed_words(const std::vector<std::uint32_t>& words) {
  // CPython uses exactly as many words as the number has significant bits (at least one).
  std::vector<std::uint32_t> key = words;
  while (key.size() > 1 && key.back() == 0) key.pop_back();
  mt_.init_by_array(key);
}

double PythonRandom::random() {
  const std::uint32_t a = mt_.next_u32();
  return res53(a, mt_.next_u32());
}

std::uint64_t PythonRandom::getrandbits(int k) {
  if (k < 0 || k > 64) throw std::invalid_argument("getrandbits: k must be in [0, 64], got " + std::to_string(k));
  if (k == 0) return 0;
  if (k <= 32) return mt_.next_u32() >> (32 - k);
  // Least significant word first; the last word keeps its top bits.
  const std::uint64_t low = mt_.next_u32();
  const std::uint64_t high = mt_.next_u32() >> (64 - k);
  return (high << 32) | low;
}

std::uint64_t PythonRandom::randbelow(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("randbelow: n must be >= 1");
  const int k = bit_length(n);
  std::uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

std::int64_t PythonRandom::randrange(std::int64_t stop) {
  if (stop <= 0) throw std::invalid_argument("empty range for randrange(" + std::to_string(stop) + ")");
  return static_cast<std::int64_t>(randbelow(static_cast<std::uint64_t>(stop)));
}

std::int64_t PythonRandom::randrange(std::int64_t start, std::int64_t stop, std::int64_t step) {
  const std::int64_t width = stop - start;
  const std::string where = "randrange(" + std::to_string(start) + ", " + std::to_string(stop) + ", " +
                            std::to_string(step) + ")";
  if (step == 1) {
    if (width <= 0) throw std::invalid_argument("empty range for " + where);
    return start + static_cast<std::int64_t>(randbelow(static_cast<std::uint64_t>(width)));
  }
  if (step == 0) throw std::invalid_argument("zero step for " + where);
  // Python's floor division: n = ceil(width / step) for either sign of step.
  auto floordiv = [](std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  };
  const std::int64_t n = step > 0 ? floordiv(width + step - 1, step) : floordiv(width + step + 1, step);
  if (n <= 0) throw std::invalid_argument("empty range for " + where);
  return start + step * static_cast<std::int64_t>(randbelow(static_cast<std::uint64_t>(n)));
}

std::size_t PythonRandom::choice_index(std::size_t n) {
  if (n == 0) throw std::invalid_argument("choice: cannot choose from an empty sequence");
  return static_cast<std::size_t>(randbelow(n));
}

std::vector<std::size_t> PythonRandom::sample_indices(std::size_t n, std::size_t k) {
  if (k > n)
    throw std::invalid_argument("sample: sample of " + std::to_string(k) + " larger than population " +
                                std::to_string(n));
  std::vector<std::size_t> result(k);
  // setsize = 21 + 4 ** ceil(log(3k, 4)) for k > 5, as Lib/random.py computes it (floats).
  std::size_t setsize = 21;
  if (k > 5) {
    const double e = std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0));
    setsize += static_cast<std::size_t>(std::llround(std::pow(4.0, e)));
  }
  if (n <= setsize) {
    std::vector<std::size_t> pool(n);
    std::iota(pool.begin(), pool.end(), std::size_t{0});
    for (std::size_t i = 0; i < k; ++i) {
      const auto j = static_cast<std::size_t>(randbelow(n - i));
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::unordered_set<std::size_t> selected;
    for (std::size_t i = 0; i < k; ++i) {
      auto j = static_cast<std::size_t>(randbelow(n));
      while (selected.count(j)) j = static_cast<std::size_t>(randbelow(n));
      selected.insert(j);
      result[i] = j;
    }
  }
  return result;
}

// ---- torch ------------------------------------------------------------------------------

std::uint64_t TorchCpuGenerator::random64() {
  const std::uint64_t high = mt_.next_u32();
  return (high << 32) | mt_.next_u32();
}

std::int64_t TorchCpuGenerator::random_int64() {
  return static_cast<std::int64_t>(random64() % (std::uint64_t{1} << 63));
}

std::vector<std::uint32_t> torch_worker_numpy_seed(std::uint64_t base_seed, std::uint32_t worker_id) {
  // A SeedSequence-style hash of (worker_id, base_seed low word, high word, 0), as torch writes it.
  constexpr std::uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u, kInitB = 0x8b51f9ddu,
                          kMultB = 0x58f38dedu, kMixL = 0xca01f9ddu, kMixR = 0x4973f715u;
  std::uint32_t const_a = kInitA;
  auto hash = [&](std::uint32_t v) {
    v ^= const_a;
    const_a *= kMultA;
    v *= const_a;
    return v ^ (v >> 16);
  };
  auto mix = [](std::uint32_t x, std::uint32_t y) {
    const std::uint32_t r = kMixL * x - kMixR * y;
    return r ^ (r >> 16);
  };
  const std::uint32_t entropy[4] = {worker_id, static_cast<std::uint32_t>(base_seed),
                                    static_cast<std::uint32_t>(base_seed >> 32), 0};
  std::uint32_t pool[4];
  for (int i = 0; i < 4; ++i) pool[i] = hash(entropy[i]);
  for (int src = 0; src < 4; ++src)
    for (int dst = 0; dst < 4; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hash(pool[src]));
  std::uint32_t const_b = kInitB;
  std::vector<std::uint32_t> state(4);
  for (int i = 0; i < 4; ++i) {
    std::uint32_t v = pool[i] ^ const_b;
    const_b *= kMultB;
    v *= const_b;
    state[i] = v ^ (v >> 16);
  }
  return state;
}

}  // namespace difss::data

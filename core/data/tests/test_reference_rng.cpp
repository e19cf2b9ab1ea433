// NumpyRandomState and PythonRandom against sequences dumped from numpy 1.24.2 and CPython
// 3.11.2 (tests/data/reference_rng/README.md lists the calls).
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "difss/data/reference_rng.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using nlohmann::json;

namespace {

json read_reference(const std::string& name) {
  const auto path = difss::test::source_dir() / "core/data/tests/data/reference_rng" / name;
  std::ifstream in(path);
  if (!in) FAIL("missing reference data " << path);
  return json::parse(in);
}

template <typename T>
std::vector<T> iota_vector(std::size_t n) {
  std::vector<T> v(n);
  std::iota(v.begin(), v.end(), T{0});
  return v;
}

// One recorded call: its name, arguments and how many values it returned.
struct Call {
  std::string op;
  json args;
  std::size_t count;
  explicit Call(const json& c) : op(c.at("op")), args(c.at("args")), count(c.at("out").size()) {}
};

// Replays one recorded numpy call; returns what our replica produced, in the JSON's types.
json replay_numpy(NumpyRandomState& rs, const json& call) {
  const auto [op, a, count] = Call(call);
  json out = json::array();
  if (op == "randint") {
    for (std::size_t i = 0; i < count; ++i) out.push_back(rs.randint(a[0].get<std::int64_t>(), a[1].get<std::int64_t>()));
  } else if (op == "random_sample" || op == "rand") {
    for (std::size_t i = 0; i < count; ++i) out.push_back(rs.random_sample());
  } else if (op == "permutation") {
    out = rs.permutation(a[0].get<std::int64_t>());
  } else if (op == "shuffle") {
    auto v = iota_vector<std::int64_t>(a[0].get<std::size_t>());
    rs.shuffle(v);
    out = v;
  } else if (op == "choice") {
    out = rs.choice(a[0].get<std::int64_t>(), a[1].get<std::int64_t>(), a[2].get<bool>());
  } else {
    FAIL("unknown numpy op " << op);
  }
  return out;
}

json replay_python(PythonRandom& r, const json& call) {
  const auto [op, a, count] = Call(call);
  json out = json::array();
  for (std::size_t i = 0; i < count; ++i) {
    if (op == "getrandbits") out.push_back(r.getrandbits(a[0].get<int>()));
    else if (op == "random") out.push_back(r.random());
    else if (op == "randrange" && a.size() == 1) out.push_back(r.randrange(a[0].get<std::int64_t>()));
    else if (op == "randrange" && a.size() == 2) out.push_back(r.randrange(a[0].get<std::int64_t>(), a[1].get<std::int64_t>()));
    else if (op == "randrange") out.push_back(r.randrange(a[0].get<std::int64_t>(), a[1].get<std::int64_t>(), a[2].get<std::int64_t>()));
    else if (op == "randint") out.push_back(r.randint(a[0].get<std::int64_t>(), a[1].get<std::int64_t>()));
    else if (op == "choice") out.push_back(r.choice_index(a[0].get<std::size_t>()));
    else break;
  }
  if (op == "sample") {
    out = r.sample_indices(a[0].get<std::size_t>(), a[1].get<std::size_t>());
  } else if (op == "shuffle") {
    auto v = iota_vector<std::int64_t>(a[0].get<std::size_t>());
    r.shuffle(v);
    out = v;
  } else if (out.size() != count) {
    FAIL("unknown python op " << op);
  }
  return out;
}

// json equality compares numbers by value; doubles must match bit for bit (repr round-trips).
void check_calls(const json& calls, const std::function<json(const json&)>& replay, const std::string& label) {
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    INFO(label << " call " << i << ": " << call.at("op") << call.at("args").dump());
    const json got = replay(call);
    REQUIRE(got.size() == call.at("out").size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      if (got[k].is_number_float()) CHECK(got[k].get<double>() == call["out"][k].get<double>());
      else CHECK(got[k].get<std::int64_t>() == call["out"][k].get<std::int64_t>());
    }
  }
}

}  // namespace

TEST_CASE("MT19937 reference outputs", "[data][rng]") {
  Mt19937 mt;  // the reference default seed 5489
  CHECK(mt.next_u32() == 3499211612u);
  for (int i = 1; i < 9999; ++i) mt.next_u32();
  CHECK(mt.next_u32() == 4123659995u);  // the C++ standard's check value for mt19937
}

TEST_CASE("NumpyRandomState reproduces numpy 1.24 RandomState", "[data][rng]") {
  const json doc = read_reference("numpy_random_state.json");
  REQUIRE(doc.at("cases").size() >= 9);
  std::size_t calls = 0;
  for (const json& c : doc["cases"]) {
    NumpyRandomState rs;
    std::string label;
    if (c.contains("seed_array")) {
      rs.seed_array(c["seed_array"].get<std::vector<std::uint32_t>>());
      label = "seed_array " + c["seed_array"].dump();
    } else {
      rs.seed_int(c.at("seed").get<std::uint32_t>());
      label = "seed " + c["seed"].dump();
    }
    check_calls(c.at("calls"), [&](const json& call) { return replay_numpy(rs, call); }, label);
    calls += c["calls"].size();
  }
  CHECK(calls > 150);
}

TEST_CASE("PythonRandom reproduces CPython 3.11 random.Random", "[data][rng]") {
  const json doc = read_reference("python_random.json");
  REQUIRE(doc.at("cases").size() >= 10);
  for (const json& c : doc["cases"]) {
    // Seed through the words (any size), and through the int64 API where the seed fits.
    PythonRandom by_words;
    by_words.seed_words(c.at("seed_words").get<std::vector<std::uint32_t>>());
    check_calls(c.at("calls"), [&](const json& call) { return replay_python(by_words, call); },
                "seed_words " + c["seed_words"].dump());
    if (!c.at("seed").is_null()) {
      PythonRandom by_int(c["seed"].get<std::int64_t>());
      check_calls(c["calls"], [&](const json& call) { return replay_python(by_int, call); },
                  "seed " + c["seed"].dump());
    }
  }
}

TEST_CASE("Reference RNGs reject what the libraries reject", "[data][rng]") {
  NumpyRandomState rs(0);
  CHECK_THROWS_AS(rs.randint(5, 5), std::invalid_argument);
  CHECK_THROWS_AS(rs.choice(3, 4, false), std::invalid_argument);
  CHECK_THROWS_AS(rs.choice(0, 1, true), std::invalid_argument);
  PythonRandom r(0);
  CHECK_THROWS_AS(r.randrange(0), std::invalid_argument);
  CHECK_THROWS_AS(r.randrange(5, 5), std::invalid_argument);
  CHECK_THROWS_AS(r.randrange(0, 10, 0), std::invalid_argument);
  CHECK_THROWS_AS(r.randrange(0, 10, -1), std::invalid_argument);
  CHECK_THROWS_AS(r.sample_indices(3, 4), std::invalid_argument);
  CHECK_THROWS_AS(r.getrandbits(65), std::invalid_argument);
  CHECK_THROWS_WITH(r.choice_index(0), Catch::Contains("empty sequence"));
}

TEST_CASE("TorchCpuGenerator and DataLoader worker seeding reproduce torch 1.13", "[data][rng]") {
  const json doc = read_reference("torch_dataloader.json");
  for (const json& c : doc.at("base_seeds")) {
    TorchCpuGenerator gen(c.at("seed").get<std::uint64_t>());
    for (const json& v : c.at("out")) CHECK(gen.random_int64() == v.get<std::int64_t>());
  }
  for (const json& c : doc.at("generate_state"))
    CHECK(torch_worker_numpy_seed(c.at("base_seed"), c.at("worker_id")) ==
          c.at("out").get<std::vector<std::uint32_t>>());
  // A DataLoader (shuffle=False, W workers) over a dataset whose item i draws
  // [random.random(), random.randint(0, 10**6), np.random.randint(0, 10**6)], two epochs.
  REQUIRE(doc.at("dataloader").size() == 2);
  for (const json& c : doc["dataloader"]) {
    const std::uint32_t workers = c.at("num_workers");
    TorchCpuGenerator main_gen(c.at("torch_seed").get<std::uint64_t>());
    for (const json& epoch : c.at("epochs")) {
      const auto base = static_cast<std::uint64_t>(main_gen.random_int64());
      std::vector<PythonRandom> py(workers);
      std::vector<NumpyRandomState> np(workers);
      for (std::uint32_t w = 0; w < workers; ++w) {
        py[w].seed_uint64(base + w);
        np[w].seed_array(torch_worker_numpy_seed(base, w));
      }
      REQUIRE(epoch.size() == 20);
      for (std::size_t i = 0; i < epoch.size(); ++i) {
        INFO("workers " << workers << ", item " << i);
        const std::size_t w = i % workers;
        CHECK(py[w].random() == epoch[i][0].get<double>());
        CHECK(py[w].randint(0, 1000000) == epoch[i][1].get<std::int64_t>());
        CHECK(np[w].randint(0, 1000000) == epoch[i][2].get<std::int64_t>());
      }
    }
  }
}

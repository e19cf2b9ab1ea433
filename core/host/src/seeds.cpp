// [evaluation] repeats: the same evaluation at several seeds, summarised (see seeds.hpp).
#include "difss/core/seeds.hpp"

#include <difss/data/atomic_file.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "difss/core/errors.hpp"
#include "difss/core/log.hpp"
#include "difss/core/report.hpp"

namespace difss {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::pair<const char*, const char*> kRows[] = {{"real_only", "real only"},
                                                     {"with_aux", "real + auxiliary"},
                                                     {"baseline_all_foreground", "baseline: every pixel object"},
                                                     {"baseline_all_background", "baseline: no pixel object"}};

json mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {{"mean", m}, {"std", v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0}};
}

json read_results(const fs::path& f) {
  std::ifstream in(f);
  if (!in) throw std::runtime_error("no results in " + f.string());
  return json::parse(in);
}

std::string pct2(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", 100 * v);
  return b;
}

void write_seeds_report(const fs::path& dir, const json& s) {
  std::ostringstream h;
  h << html_head("difss run " + s.value("name", "")) << "<h1>difss run: " << html_escape(s.value("name", ""))
    << " (" << s["seeds"].size() << " seeds)</h1>";
  if (s.contains("note")) h << "<p class=\"note\">" << html_escape(s["note"].get<std::string>()) << "</p>";
  h << "<table><tr><th>supports</th><th>mIoU mean ± std (%)</th><th>FB-IoU mean ± std (%)</th>";
  for (const auto& seed : s["seeds"]) h << "<th>mIoU seed " << seed.get<std::uint64_t>() << "</th>";
  h << "</tr>";
  for (const auto& [key, label] : kRows) {
    if (!s["metrics"].contains(key)) continue;
    const json& e = s["metrics"][key];
    h << "<tr><td>" << label << "</td><td>" << mean_std_text(e) << "</td><td>" << mean_std_text(e, "fbiou") << "</td>";
    for (const auto& r : e["per_seed"]) h << "<td>" << pct2(r["miou"]) << "</td>";
    h << "</tr>";
  }
  if (s.contains("aux_minus_real")) {
    const json& d = s["aux_minus_real"];
    h << "<tr><td>with aux − real only (paired)</td><td>" << mean_std_text(d) << "</td><td></td>";
    for (const auto& r : d["per_seed"]) h << "<td>" << pct2(r["miou"]) << "</td>";
    h << "</tr>";
  }
  h << "</table><p>Per-seed runs (episodes, grids, per-class numbers):";
  for (const auto& r : s["runs"]) h << " <a href=\"" << html_escape(r) << "/index.html\">" << html_escape(r) << "</a>";
  h << "</p></body></html>\n";
  data::write_file_atomic(dir / "index.html", h.str());
}

// `s` right-aligned in `width` terminal columns (UTF-8: "±" is two bytes, one column).
std::string right(const std::string& s, size_t width) {
  size_t cols = 0;
  for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
  return std::string(width > cols ? width - cols : 0, ' ') + s;
}

void print_seeds_table(const json& s) {
  std::printf("\n%-30s %16s %16s   per seed (mIoU)\n", "supports", "mIoU", "FB-IoU");
  auto row = [](const std::string& label, const json& e, bool fb) {
    std::printf("%-30s %s %s  ", label.c_str(), right(mean_std_text(e), 16).c_str(),
                right(fb ? mean_std_text(e, "fbiou") : "", 16).c_str());
    for (const auto& r : e["per_seed"]) std::printf(" %6s", pct2(r["miou"]).c_str());
    std::printf("\n");
  };
  for (const auto& [key, label] : kRows)
    if (s["metrics"].contains(key)) {
      std::string l = label;
      if (std::string(key) == "with_aux") l = "real + " + std::to_string(s.value("aux_per_support", 0)) + " aux/support";
      row(l, s["metrics"][key], true);
    }
  if (s.contains("aux_minus_real")) row("aux - real (paired)", s["aux_minus_real"], false);
  std::printf("(mean ± sample std over %zu seeds", s["seeds"].size());
  if (s.contains("aux_minus_real")) {
    const json& d = s["aux_minus_real"];
    const double m = d["mean_miou"], sd = d["std_miou"];
    std::printf("; with aux %s real only by %.2f mIoU = %.1f std of the paired difference", m >= 0 ? "ahead of" : "behind",
                100 * std::fabs(m), sd > 0 ? std::fabs(m) / sd : 0.0);
  }
  std::printf(")\n");
  if (s.contains("note")) std::printf("\n%s\n", s["note"].get<std::string>().c_str());
  std::printf("\nresults: %s\n", s.value("results", "").c_str());
  std::fflush(stdout);
}

}  // namespace

std::string mean_std_text(const json& e, const char* which) {
  const std::string w = which;
  if (!e.contains("mean_" + w)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.2f ± %.2f", 100 * e["mean_" + w].get<double>(), 100 * e["std_" + w].get<double>());
  return b;
}

Pipeline repeat_pipeline(const Pipeline& p, int k) {
  Pipeline q = p;
  q.seed = p.seed + std::uint64_t(k);
  q.evaluation.repeats = 1;
  const std::string sub = "seed-" + std::to_string(q.seed);
  q.output = p.output / sub;
  q.aux.aux_dir = p.aux.aux_dir / sub;  // aux samples depend on the seed: keep them apart
  return q;
}

json summarize_seeds(const std::vector<std::uint64_t>& seeds, const std::vector<json>& results) {
  json out = {{"seeds", seeds}, {"metrics", json::object()}};
  for (const auto& [key, label] : kRows) {
    std::vector<double> miou, fbiou;
    json rows = json::array();
    for (size_t k = 0; k < results.size(); ++k) {
      const json& m = results[k]["metrics"];
      if (!m.contains(key)) break;
      miou.push_back(m[key]["miou"]);
      fbiou.push_back(m[key]["fbiou"]);
      rows.push_back({{"seed", seeds[k]}, {"miou", miou.back()}, {"fbiou", fbiou.back()}});
    }
    if (miou.size() != results.size() || miou.empty()) continue;
    const json a = mean_std(miou), b = mean_std(fbiou);
    out["metrics"][key] = {{"per_seed", rows}, {"mean_miou", a["mean"]}, {"std_miou", a["std"]},
                           {"mean_fbiou", b["mean"]}, {"std_fbiou", b["std"]}};
  }
  if (out["metrics"].contains("real_only") && out["metrics"].contains("with_aux")) {
    std::vector<double> d;
    json rows = json::array();
    for (size_t k = 0; k < results.size(); ++k) {
      d.push_back(out["metrics"]["with_aux"]["per_seed"][k]["miou"].get<double>() -
                  out["metrics"]["real_only"]["per_seed"][k]["miou"].get<double>());
      rows.push_back({{"seed", seeds[k]}, {"miou", d.back()}});
    }
    const json a = mean_std(d);
    out["aux_minus_real"] = {{"per_seed", rows}, {"mean_miou", a["mean"]}, {"std_miou", a["std"]}};
  }
  return out;
}

RunSummary run_repeats(const Pipeline& p, const RunOptions& options) {
  if (options.shard_count > 1 || options.aggregate_only)
    throw ConfigError(p.where("evaluation", "repeats") +
                      ": [evaluation] repeats runs its seeds one after the other in this process; run without "
                      "--shard (or give each seed its own pipeline)");
  if (p.mode != "evaluate")
    throw ConfigError(p.where("evaluation", "repeats") + ": [evaluation] repeats needs [pipeline] mode = \"evaluate\"");
  std::vector<std::uint64_t> seeds;
  std::vector<json> results;
  json runs = json::array();
  for (int k = 0; k < p.evaluation.repeats; ++k) {
    const Pipeline q = repeat_pipeline(p, k);
    logger()->info("repeat {}/{}: seed {} -> {}", k + 1, p.evaluation.repeats, q.seed, q.output.string());
    RunSummary r = run(q, options);
    if (!r.ok || !r.complete) return r;
    seeds.push_back(q.seed);
    results.push_back(read_results(q.output / "results.json"));
    runs.push_back(q.output.filename().string());
  }
  json s = summarize_seeds(seeds, results);
  s["name"] = p.name;
  s["mode"] = "evaluate-repeats";
  s["runs"] = runs;
  s["aux_per_support"] = p.aux_per_support();
  s["pipeline"] = p.resolved_json();
  if (results.front().contains("note")) s["note"] = results.front()["note"];
  s["results"] = (p.output / "results.json").string();
  fs::create_directories(p.output);
  data::write_file_atomic(p.output / "results.json", s.dump(2) + "\n");
  write_seeds_report(p.output, s);
  print_seeds_table(s);
  return {true, true, p.output, ""};
}

}  // namespace difss

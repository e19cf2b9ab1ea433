#include <difss/profile/op_profile.hpp>

#include <ATen/core/ivalue.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace difss {
namespace {

using Clock = std::chrono::steady_clock;

// One profile per thread at a time: the observer writes into it.
thread_local std::map<std::string, OpProfile::Entry>* t_entries = nullptr;
thread_local int t_depth = 0;

struct Started : at::ObserverContext {
  Clock::time_point t0;
  bool outermost = false;
  double flops = 0;
};

std::vector<int64_t> sizes_of(const c10::IValue& v) {
  return v.isTensor() ? v.toTensor().sizes().vec() : std::vector<int64_t>{};
}

int64_t product(const std::vector<int64_t>& s, size_t from = 0, size_t to = size_t(-1)) {
  int64_t p = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i) p *= s[i];
  return p;
}

// 2 x multiply-adds of the ops that dominate these models, from their input shapes.
double flops_of(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  auto in = fn.inputs();
  if (in.size() < 2) return 0;
  const auto a = sizes_of(in[0]), b = sizes_of(in[1]);
  if (a.empty() || b.empty()) return 0;
  if (name == "aten::linear" && b.size() == 2)  // x [..., K], w [O, K]
    return 2.0 * double(product(a)) * double(b[0]);
  if ((name == "aten::bmm" || name == "aten::matmul") && a.size() >= 2 && b.size() >= 2)
    return 2.0 * double(product(a)) * double(b.back());  // [.., n, k] x [.., k, m]
  if (name == "difss::fused_attention" && a.size() == 3 && b.size() == 3)  // q [B, N, C], k [B, M, C]
    return 4.0 * double(product(a)) * double(b[1]);  // scores and values products, all heads
  if (name == "difss::winograd_conv" && a.size() == 4 && b.size() == 4)  // x [N, C, H, W], w [O, C, 3, 3]
    return 2.0 * double(product(a)) * double(b[0]) * 9.0;  // the direct algorithm's count, stride 1
  if ((name == "aten::mm" || name == "difss::matmul") && a.size() == 2 && b.size() == 2)
    return 2.0 * double(a[0] * a[1] * b[1]);
  if (name == "aten::addmm" && in.size() >= 3) {  // addmm(self, m1, m2, ...)
    const auto m1 = sizes_of(in[1]), m2 = sizes_of(in[2]);
    return m1.size() == 2 && m2.size() == 2 ? 2.0 * double(m1[0] * m1[1] * m2[1]) : 0;
  }
  // conv2d(input, weight, bias, stride, padding, ...); mkldnn_convolution(input, weight, bias,
  // padding, stride, ...). Output size from stride/padding (dilation 1 assumed for the estimate).
  const bool mkldnn = name == "aten::mkldnn_convolution";
  if ((name == "aten::conv2d" || mkldnn) && a.size() == 4 && b.size() == 4 && in.size() >= 5) {
    auto stride = in[mkldnn ? 4 : 3].toIntVector(), pad = in[mkldnn ? 3 : 4].toIntVector();
    const int64_t sh = stride.empty() ? 1 : stride[0], sw = stride.size() > 1 ? stride[1] : sh;
    const int64_t ph = pad.empty() ? 0 : pad[0], pw = pad.size() > 1 ? pad[1] : ph;
    const int64_t ho = (a[2] + 2 * ph - b[2]) / sh + 1, wo = (a[3] + 2 * pw - b[3]) / sw + 1;
    return 2.0 * double(a[0]) * double(b[0]) * double(ho * wo) * double(product(b, 1));
  }
  return 0;
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  auto s = std::make_unique<Started>();
  s->outermost = t_entries && t_depth == 0;
  ++t_depth;
  if (s->outermost) {
    s->flops = flops_of(fn);
    s->t0 = Clock::now();
  }
  return s;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  --t_depth;
  auto* s = static_cast<Started*>(ctx);
  if (!s || !s->outermost || !t_entries) return;
  OpProfile::Entry& e = (*t_entries)[fn.name()];
  e.calls += 1;
  e.seconds += std::chrono::duration<double>(Clock::now() - s->t0).count();
  e.flops += s->flops;
}

}  // namespace

OpProfile::OpProfile() {
  if (t_entries) throw std::logic_error("OpProfile: this thread is already being profiled");
  t_entries = &entries_;
  t_depth = 0;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_start, &on_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
}

OpProfile::~OpProfile() {
  at::removeCallback(handle_);
  t_entries = nullptr;
}

std::string OpProfile::table(double total_seconds, int top) const {
  std::vector<std::pair<std::string, Entry>> rows(entries().begin(), entries().end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.seconds > y.second.seconds; });
  double sum = 0;
  for (const auto& r : rows) sum += r.second.seconds;
  const double total = total_seconds > 0 ? total_seconds : sum;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-34s %8s %10s %7s %10s\n", "op", "calls", "seconds", "share", "GFLOP/s");
  out += line;
  Entry rest;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Entry& e = rows[i].second;
    if (int(i) >= top) {
      rest.calls += e.calls;
      rest.seconds += e.seconds;
      continue;
    }
    char rate[32] = "";
    if (e.flops > 0 && e.seconds > 0) std::snprintf(rate, sizeof rate, "%.1f", e.flops / e.seconds / 1e9);
    std::snprintf(line, sizeof line, "%-34s %8lld %10.3f %6.1f%% %10s\n", rows[i].first.c_str(),
                  (long long)e.calls, e.seconds, 100.0 * e.seconds / total, rate);
    out += line;
  }
  if (rest.calls > 0) {
    std::snprintf(line, sizeof line, "%-34s %8lld %10.3f %6.1f%%\n", "(other ops)", (long long)rest.calls,
                  rest.seconds, 100.0 * rest.seconds / total);
    out += line;
  }
  if (total_seconds > 0) {
    std::snprintf(line, sizeof line, "%-34s %8s %10.3f %6.1f%%\n", "(outside ATen ops)", "",
                  std::max(0.0, total_seconds - sum), 100.0 * std::max(0.0, total_seconds - sum) / total);
    out += line;
  }
  return out;
}

}  // namespace difss

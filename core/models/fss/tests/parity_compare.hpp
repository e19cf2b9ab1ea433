// Parity checks of the FSS models against reference tensors of the official code: max-abs
// difference within tol * max(1, max |reference|), reported as a Catch warning.
#pragma once

#include "catch_torch.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

namespace difss::test {

// Returns the relative difference (max-abs / scale) and folds it into *worst.
inline double compare_parity(const std::string& model, const std::string& what, const at::Tensor& ours,
                             const at::Tensor& ref, double tol, double* worst = nullptr) {
  INFO(model << " " << what);
  REQUIRE(ours.sizes() == ref.sizes());
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  const double d = (ours.to(at::kFloat) - ref).abs().max().item<double>();
  WARN(model << " parity " << what << ": max-abs diff " << d << " (scale " << scale << ", relative " << d / scale << ")");
  CHECK(d <= tol * scale);
  if (worst) *worst = std::max(*worst, d / scale);
  return d / scale;
}

}  // namespace difss::test

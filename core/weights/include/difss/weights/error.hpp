// The one exception type of difss_weights. No LibTorch here: the format parsers use it too.
#pragma once
#include <stdexcept>
#include <string>

namespace difss::weights {

// Raised for every bad input: missing or unreadable file, corrupt or truncated archive, hostile
// pickle, shape mismatch while assigning, ... what() reads "<file>: <problem>".
class WeightError : public std::runtime_error {
 public:
  WeightError(std::string file, std::string problem)
      : std::runtime_error(file.empty() ? problem : file + ": " + problem),
        file_(std::move(file)),
        problem_(std::move(problem)) {}

  const std::string& file() const noexcept { return file_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string file_;
  std::string problem_;
};

}  // namespace difss::weights

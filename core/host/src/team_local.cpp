// LocalTeam: one process, or one static shard of a run shared through its folder; and make_team.
#include "difss/core/team.hpp"

#include <cstdlib>
#include <stdexcept>

#include "mpi/team_mpi.hpp"

namespace difss {

namespace {

class LocalTeam final : public Team {
 public:
  LocalTeam(int shard_index, int shard_count) : shard_(shard_index), shards_(shard_count) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  bool whole_job() const override { return shards_ == 1; }
  std::string describe() const override {
    return shards_ == 1 ? "1 process"
                        : "shard " + std::to_string(shard_) + "/" + std::to_string(shards_) + " (static)";
  }

  void start(std::vector<std::size_t> todo, std::function<void(std::size_t)> on_done) override {
    todo_.clear();
    for (std::size_t item : todo)
      if (item % std::size_t(shards_) == std::size_t(shard_)) todo_.push_back(item);
    pos_ = 0;
    on_done_ = std::move(on_done);
    current_.reset();
  }

  std::optional<std::size_t> next() override {
    if (current_ && on_done_) on_done_(*current_);
    current_.reset();
    if (!failure_.empty() || pos_ >= todo_.size()) return std::nullopt;
    current_ = todo_[pos_++];
    return current_;
  }

  void fail(const std::string& what) override {
    if (failure_.empty()) failure_ = what;
    current_.reset();
  }

  void barrier() override {}
  std::vector<std::string> gather(const std::string& payload) override { return {payload}; }

  std::vector<std::string> failures() const override {
    if (failure_.empty()) return {};
    return {failure_};
  }

 private:
  int shard_, shards_;
  std::vector<std::size_t> todo_;
  std::size_t pos_ = 0;
  std::optional<std::size_t> current_;
  std::function<void(std::size_t)> on_done_;
  std::string failure_;
};

}  // namespace

bool launched_by_mpi_launcher() {
  // mpirun (OpenMPI), srun with PMI-2 or PMIx: each sets its variables before the program starts.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

std::string assign_gpu_per_local_rank() {
  const int local = mpi_local_rank();
  std::string chosen = std::to_string(local);
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible && *visible) {
    std::vector<std::string> list;
    std::string item;
    for (const char* c = visible;; ++c) {
      if (*c == ',' || *c == '\0') {
        list.push_back(item);
        item.clear();
        if (*c == '\0') break;
      } else {
        item += *c;
      }
    }
    if (size_t(local) >= list.size())
      throw std::runtime_error("--gpu-per-rank: local rank " + std::to_string(local) + " but CUDA_VISIBLE_DEVICES lists " +
                               std::to_string(list.size()) + " device(s) ('" + visible + "')");
    chosen = list[size_t(local)];
  }
  setenv("CUDA_VISIBLE_DEVICES", chosen.c_str(), 1);
  return chosen;
}

std::unique_ptr<Team> make_local_team(int shard_index, int shard_count) {
  return std::make_unique<LocalTeam>(shard_index, shard_count);
}

std::unique_ptr<Team> make_team(const TeamOptions& o) {
  if (o.use_mpi)
    if (auto team = make_mpi_team()) return team;
  return make_local_team(o.shard_index, o.shard_count);
}

}  // namespace difss

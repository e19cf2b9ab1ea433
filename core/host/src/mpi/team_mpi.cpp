// The MPI team (OpenMPI; built when CMake finds MPI). Rank 0 hands out items one at a time: a
// dispatcher thread answers the other ranks' requests while rank 0's main thread works on items
// too (this needs MPI_THREAD_SERIALIZED or better, which Debian's OpenMPI provides; with less,
// rank 0 only dispatches). Every request carries the item the rank just finished, so rank 0 sees
// progress as it happens. Results travel back through MPI_Gatherv at the end.
// The C API only: OpenMPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "difss/core/log.hpp"
#include "team_mpi.hpp"

namespace difss {

namespace {

int g_world_size = 1;
int g_world_rank = 0;
int g_local_size = 1;
int g_local_rank = 0;
int g_thread_level = MPI_THREAD_SINGLE;
bool g_initialised = false;

constexpr int kTagRequest = 4101;  // int64: the item just finished, or -1
constexpr int kTagItem = 4102;     // int64: the next item, or -1 = no more work
constexpr int kTagFailure = 4103;  // chars: why this rank stopped

constexpr int64_t kNone = -1;

// Variable-length strings from every rank; `all` = everyone gets them, else only rank 0.
std::vector<std::string> gather_strings(MPI_Comm comm, int size, int rank, const std::string& mine, bool all) {
  int len = int(mine.size());
  std::vector<int> lens(size_t(size), 0), displs(size_t(size), 0);
  if (all)
    MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm);
  else
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, comm);
  std::vector<char> buf;
  if (all || rank == 0) {
    size_t total = 0;
    for (int r = 0; r < size; ++r) {
      displs[size_t(r)] = int(total);
      total += size_t(lens[size_t(r)]);
    }
    buf.resize(total + 1);
  }
  if (all)
    MPI_Allgatherv(mine.data(), len, MPI_CHAR, buf.data(), lens.data(), displs.data(), MPI_CHAR, comm);
  else
    MPI_Gatherv(mine.data(), len, MPI_CHAR, buf.data(), lens.data(), displs.data(), MPI_CHAR, 0, comm);
  std::vector<std::string> out;
  if (!all && rank != 0) return out;
  for (int r = 0; r < size; ++r) out.emplace_back(buf.data() + displs[size_t(r)], size_t(lens[size_t(r)]));
  return out;
}

class MpiTeam final : public Team {
 public:
  MpiTeam() {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    root_works_ = g_thread_level >= MPI_THREAD_SERIALIZED;
    if (rank_ == 0 && !root_works_)
      logger()->warn("MPI provides no thread support beyond MPI_THREAD_FUNNELED: rank 0 only hands out work");
  }
  ~MpiTeam() override {
    stop_dispatcher();
    MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool whole_job() const override { return true; }
  std::string describe() const override { return "mpi: " + std::to_string(size_) + " ranks"; }

  void start(std::vector<std::size_t> todo, std::function<void(std::size_t)> on_done) override {
    current_ = kNone;
    started_ = true;
    finished_ = false;
    failure_.clear();
    if (rank_ != 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    todo_ = std::move(todo);
    pos_ = 0;
    stopping_ = false;
    on_done_ = std::move(on_done);
    remaining_workers_ = size_ - 1;
    if (root_works_) dispatcher_ = std::thread([this] { dispatch(); });
  }

  std::optional<std::size_t> next() override {
    if (finished_) return std::nullopt;
    if (rank_ == 0) {
      if (!root_works_) {  // rank 0 is the dispatcher only
        dispatch();
        finished_ = true;
        return std::nullopt;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (current_ != kNone && on_done_) on_done_(std::size_t(current_));
      current_ = take_locked();
    } else {
      current_ = request(current_);
    }
    if (current_ == kNone) {
      finished_ = true;
      return std::nullopt;
    }
    return std::size_t(current_);
  }

  void fail(const std::string& what) override {
    if (failure_.empty()) failure_ = what;
    current_ = kNone;
    if (rank_ == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    } else if (started_ && !finished_) {
      MPI_Send(what.data(), int(what.size()), MPI_CHAR, 0, kTagFailure, comm_);
      while (request(kNone) != kNone) {
      }  // the dispatcher is stopping: it answers "no more work"
    }
    finished_ = true;
  }

  void barrier() override { quiet_barrier(); }

  std::vector<std::string> gather(const std::string& payload) override {
    if (started_ && !finished_) fail("left the work loop before it was empty");
    stop_dispatcher();
    quiet_barrier();  // ranks done early wait here without spinning the cores the others still use
    failures_.clear();
    for (const auto& f : gather_strings(comm_, size_, rank_, failure_, true)) failures_.push_back(f);
    for (int r = 0; r < size_; ++r)
      if (!failures_[size_t(r)].empty()) failures_[size_t(r)] = "rank " + std::to_string(r) + ": " + failures_[size_t(r)];
    std::vector<std::string> kept;
    for (auto& f : failures_)
      if (!f.empty()) kept.push_back(std::move(f));
    failures_ = std::move(kept);
    return gather_strings(comm_, size_, rank_, payload, false);
  }

  std::vector<std::string> failures() const override { return failures_; }

 private:
  int64_t take_locked() {
    if (stopping_ || pos_ >= todo_.size()) return kNone;
    return int64_t(todo_[pos_++]);
  }

  // Worker side: report `finished` and receive the next item.
  int64_t request(int64_t finished) {
    int64_t next = kNone;
    MPI_Send(&finished, 1, MPI_INT64_T, 0, kTagRequest, comm_);
    MPI_Recv(&next, 1, MPI_INT64_T, 0, kTagItem, comm_, MPI_STATUS_IGNORE);
    return next;
  }

  // Rank 0: answer requests until every other rank was told "no more work". Polls with a short
  // sleep: a blocking receive would spin a core that rank 0's own work needs.
  void dispatch() {
    using namespace std::chrono_literals;
    while (remaining_workers_ > 0) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &st);
      if (!flag) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (st.MPI_TAG == kTagFailure) {
        int len = 0;
        MPI_Get_count(&st, MPI_CHAR, &len);
        std::string msg(size_t(len), '\0');
        MPI_Recv(msg.data(), len, MPI_CHAR, st.MPI_SOURCE, kTagFailure, comm_, MPI_STATUS_IGNORE);
        logger()->error("rank {} stopped: {}; no more work is handed out", st.MPI_SOURCE, msg);
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        continue;
      }
      int64_t done = kNone, next = kNone;
      MPI_Recv(&done, 1, MPI_INT64_T, st.MPI_SOURCE, kTagRequest, comm_, MPI_STATUS_IGNORE);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (done != kNone && on_done_) on_done_(std::size_t(done));
        next = take_locked();
      }
      MPI_Send(&next, 1, MPI_INT64_T, st.MPI_SOURCE, kTagItem, comm_);
      if (next == kNone) --remaining_workers_;
    }
  }

  // MPI_Barrier busy-polls in OpenMPI; a non-blocking barrier tested every 2 ms does not.
  void quiet_barrier() {
    MPI_Request req;
    MPI_Ibarrier(comm_, &req);
    int done = 0;
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  void stop_dispatcher() {
    if (dispatcher_.joinable()) dispatcher_.join();
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool root_works_ = true;
  // this rank's state
  int64_t current_ = kNone;
  bool started_ = false, finished_ = false;
  std::string failure_;
  std::vector<std::string> failures_;
  // rank 0's hand-out state, shared with the dispatcher thread
  std::mutex mutex_;
  std::vector<std::size_t> todo_;
  std::size_t pos_ = 0;
  bool stopping_ = false;
  std::function<void(std::size_t)> on_done_;
  int remaining_workers_ = 0;
  std::thread dispatcher_;
};

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

std::unique_ptr<Team> make_mpi_team() {
  if (!g_initialised || g_world_size < 2) return nullptr;
  return std::make_unique<MpiTeam>();
}

bool mpi_built() { return true; }

int mpi_init_if_launched(int* argc, char*** argv) {
  if (g_initialised) return g_world_size;
  if (!launched_by_mpi_launcher()) return 1;
  MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &g_thread_level);
  g_initialised = true;
  MPI_Comm_size(MPI_COMM_WORLD, &g_world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &g_local_size);
  MPI_Comm_rank(node, &g_local_rank);
  MPI_Comm_free(&node);
  std::atexit(finalize_mpi);
  return g_world_size;
}

int mpi_rank() { return g_world_rank; }
int mpi_local_size() { return g_local_size; }
int mpi_local_rank() { return g_local_rank; }

void mpi_abort(int code) {
  if (g_initialised) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace difss

// The processes that share one run, and how they share its work items.
//
// A run's items (episodes, or (image, class) pairs to generate for) are numbered; every item's
// result depends only on the pipeline and the item (per-item seeds), never on which process did it
// or in which order. A Team decides who does what:
//   - LocalTeam: this process alone, or one static shard (`--shard K/N`: index % N == K) of a run
//     that other processes share through the run folder (Slurm job arrays).
//   - MpiTeam (built when OpenMPI is found, used under mpirun/srun): rank 0 hands items out one at a
//     time to whichever rank asks next (items differ in cost), and gathers every rank's results
//     through MPI at the end; rank 0 alone writes results.json, the CSV and the report.
//
// Protocol, the same on every rank:
//   team.start(todo, on_done);   // todo: what rank 0 found unfinished (only rank 0's list is used)
//   while (auto item = team.next()) { ...work...; }   // next() also reports the previous item done
//   team.fail(msg) on a fatal error, then leave the loop (the job stops handing out work)
//   auto all = team.gather(payload);    // rank 0: every rank's payload, in rank order
//   team.failures()                     // after gather: every rank's fatal error, "" when none
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace difss {

class Team {
 public:
  virtual ~Team() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool root() const { return rank() == 0; }
  // True when this team covers every item of the run (one process, or every rank of an MPI job),
  // so that its root can write the results without reading other shards' files.
  virtual bool whole_job() const = 0;
  // What the logs and results call this team, e.g. "1 process" or "mpi: 3 ranks".
  virtual std::string describe() const = 0;

  // Starts handing out `todo`. On the root, `on_done(item)` runs once per finished item of any
  // rank (possibly on another thread): progress bars hook in here.
  virtual void start(std::vector<std::size_t> todo, std::function<void(std::size_t)> on_done) = 0;
  // The next item for this process, or nothing when none is left or the job is stopping.
  virtual std::optional<std::size_t> next() = 0;
  // This process cannot go on (on_error = "stop", a plugin error, Ctrl-C): no more items are
  // handed out to anyone; every rank finishes its current item and reaches gather().
  virtual void fail(const std::string& what) = 0;
  // Collective: returns once every rank called it.
  virtual void barrier() = 0;
  // Collective: every rank's payload on the root (rank order), nothing elsewhere.
  virtual std::vector<std::string> gather(const std::string& payload) = 0;
  // After gather(): "rank k: message" for every rank that failed, on every rank.
  virtual std::vector<std::string> failures() const = 0;
};

struct TeamOptions {
  int shard_index = 0;  // static shard of a LocalTeam
  int shard_count = 1;
  bool use_mpi = true;  // an MPI team when this process was launched by mpirun/srun and MPI is built
};

std::unique_ptr<Team> make_team(const TeamOptions& options);
std::unique_ptr<Team> make_local_team(int shard_index, int shard_count);

// --- the MPI environment (all no-ops without MPI) ------------------------------------------------
// Whether difss was built with MPI.
bool mpi_built();
// Whether this process was started by an MPI launcher (mpirun, srun with PMI/PMIx): set before
// MPI is initialised, from the launcher's environment.
bool launched_by_mpi_launcher();
// Initialises MPI when launched by a launcher (once; finalised at exit) and returns the world
// size, or 1 when MPI is not in use.
int mpi_init_if_launched(int* argc, char*** argv);
// This rank and the number of ranks on this node (1 and 1 without MPI).
int mpi_rank();
int mpi_local_size();
int mpi_local_rank();
// --gpu-per-rank: shows each rank of a node one GPU by narrowing CUDA_VISIBLE_DEVICES to entry
// `local rank` of its list (or to the number when unset), so a plugin's device = "cuda" is that
// rank's GPU. Must run before any CUDA initialisation. Returns what it set ("" = nothing).
std::string assign_gpu_per_local_rank();
// Ends the MPI job from a rank that cannot reach the collective calls (last resort).
[[noreturn]] void mpi_abort(int code);

}  // namespace difss

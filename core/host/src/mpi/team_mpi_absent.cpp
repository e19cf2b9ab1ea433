// Built when OpenMPI was not found (or DIFSS_WITH_MPI=OFF): every run is a LocalTeam.
#include <cstdlib>

#include "team_mpi.hpp"

namespace difss {

std::unique_ptr<Team> make_mpi_team() { return nullptr; }
bool mpi_built() { return false; }
int mpi_init_if_launched(int*, char***) { return 1; }
int mpi_rank() { return 0; }
int mpi_local_size() { return 1; }
int mpi_local_rank() { return 0; }
void mpi_abort(int code) { std::_Exit(code); }

}  // namespace difss

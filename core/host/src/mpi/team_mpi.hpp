// Internal: the MPI team, or nothing when difss was built without MPI or is not running under an
// MPI launcher with more than one rank (team_mpi.cpp / team_mpi_absent.cpp).
#pragma once

#include <memory>

#include "difss/core/team.hpp"

namespace difss {

std::unique_ptr<Team> make_mpi_team();

}  // namespace difss

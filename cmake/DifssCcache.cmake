# Use ccache when present: rebuilding LibTorch-heavy sources is the slow part of every build.
find_program(DIFSS_CCACHE ccache)
if(DIFSS_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER ${DIFSS_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${DIFSS_CCACHE})
  message(STATUS "difss: using ccache (${DIFSS_CCACHE})")
endif()

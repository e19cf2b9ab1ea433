# The project's own code builds warning-free at -Wall -Wextra (C and C++). Third-party headers
# stay out of it because they come in through SYSTEM include directories: imported targets
# (OpenCV, Boost, spdlog, Catch2, ...) are SYSTEM by default and difss::torch marks LibTorch's
# (cmake/DifssTorch.cmake).
option(DIFSS_WARNINGS "Compile the project's code with -Wall -Wextra" ON)
if(DIFSS_WARNINGS)
  # -Wmissing-field-initializers (part of -Wextra) is off: aggregates such as weights::Slot,
  # the pipeline key table and sdk::ParamDef are initialised with their leading fields on
  # purpose, the rest keeping their default member initialisers.
  add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)
endif()

# The memory allocator linked into difss's executables.
#
# LibTorch frees and re-allocates tensors of tens to hundreds of MB on every op. glibc's malloc
# returns such blocks to the kernel (munmap) and maps fresh ones, so every large tensor is
# page-faulted in again: at 512x512, 20-30 % of a generate run's CPU time was kernel time.
# tcmalloc (gperftools) keeps freed spans and reuses them; it halved that kernel time and cut an
# end-to-end generation by ~15 % (docs/PERFORMANCE.md). Linking it into the executables makes it
# the allocator of the whole process, plugins included (they resolve malloc from the process).
#
#   -DDIFSS_ALLOCATOR=auto      tcmalloc if found, else jemalloc, else the system's (default)
#   -DDIFSS_ALLOCATOR=tcmalloc | jemalloc   required; configuring fails where it is missing
#   -DDIFSS_ALLOCATOR=system    glibc's malloc
# `difss-host` prints which allocator runs in its compute line (`compute: ...; allocator: ...`).
set(DIFSS_ALLOCATOR "auto" CACHE STRING "Allocator linked into executables: auto, tcmalloc, jemalloc, system")
set_property(CACHE DIFSS_ALLOCATOR PROPERTY STRINGS auto tcmalloc jemalloc system)

find_library(DIFSS_TCMALLOC_LIBRARY NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
find_library(DIFSS_JEMALLOC_LIBRARY NAMES jemalloc libjemalloc.so.2)

set(_difss_alloc_lib "")
if(DIFSS_ALLOCATOR STREQUAL "auto")
  if(DIFSS_TCMALLOC_LIBRARY)
    set(_difss_alloc_lib "${DIFSS_TCMALLOC_LIBRARY}")
  elseif(DIFSS_JEMALLOC_LIBRARY)
    set(_difss_alloc_lib "${DIFSS_JEMALLOC_LIBRARY}")
  else()
    message(STATUS "difss: no tcmalloc or jemalloc found (Debian: libgoogle-perftools-dev); "
                   "using the system allocator, which is slower for large tensors")
  endif()
elseif(DIFSS_ALLOCATOR STREQUAL "tcmalloc" OR DIFSS_ALLOCATOR STREQUAL "jemalloc")
  string(TOUPPER "${DIFSS_ALLOCATOR}" _up)
  if(NOT DIFSS_${_up}_LIBRARY)
    message(FATAL_ERROR "DIFSS_ALLOCATOR=${DIFSS_ALLOCATOR}, but its library was not found "
                        "(Debian: libgoogle-perftools-dev for tcmalloc, libjemalloc-dev for jemalloc)")
  endif()
  set(_difss_alloc_lib "${DIFSS_${_up}_LIBRARY}")
elseif(NOT DIFSS_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "DIFSS_ALLOCATOR must be auto, tcmalloc, jemalloc or system, not '${DIFSS_ALLOCATOR}'")
endif()
# What compute_env.cpp's allocator_name() reports when the link worked (checked by test_core).
set(DIFSS_ALLOCATOR_NAME "system malloc")
if(_difss_alloc_lib MATCHES "tcmalloc")
  set(DIFSS_ALLOCATOR_NAME "tcmalloc")
elseif(_difss_alloc_lib MATCHES "jemalloc")
  set(DIFSS_ALLOCATOR_NAME "jemalloc")
endif()
if(_difss_alloc_lib)
  message(STATUS "difss: executables link the allocator ${_difss_alloc_lib}")
endif()

# Links the chosen allocator into an executable. --no-as-needed: nothing in the executable calls
# it by name, and the linker must keep it anyway (it replaces malloc by symbol interposition).
function(difss_link_allocator target)
  if(_difss_alloc_lib)
    target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed" "${_difss_alloc_lib}"
                                            "-Wl,--pop-state")
  endif()
endfunction()

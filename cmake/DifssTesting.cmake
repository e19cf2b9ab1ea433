# Test helpers shared by every folder that has tests (core parts, plugins, tests/).
#
#   difss_add_test(NAME SOURCES src... [LIBS lib...] [LABELS l...] [TIMEOUT s])
#
# One executable per area, many test cases each: a process that links LibTorch takes ~0.5 s to
# start, so tests are grouped rather than split one per process. The Catch2 main is compiled
# once (difss_catch_main, tests/support/catch_main.cpp).
#
# Parts. Two Catch2 tags split an executable's test cases into up to four ctest entries, each
# running the executable once with a tag filter:
#   NAME              test cases with neither tag              labels fast
#   NAME:shared       [shared]: they read ../shared            labels fast, shared
#   NAME:slow         [slow]: parity runs, training, ...       labels slow
#   NAME:slow-shared  both tags                                labels slow, shared
# so `ctest -L fast` is the quick subset (target: under 2 minutes on 2 cores), `ctest -L slow` the rest.
# The parts an executable has are read from the TEST_CASE lines of its sources when cmake runs;
# under ctest the executable checks that each of its test cases belongs to a registered part
# (DIFSS_TEST_PARTS) and fails otherwise, so a new tag needs a cmake re-run, never goes unseen.
#
# Skips. Catch2 v2 has no SKIP. A [shared] test case whose data is absent calls
# DIFSS_REQUIRE_SHARED (tests/support/shared_data.hpp), which records it as skipped; the
# executable then exits with 77 when nothing failed, and SKIP_RETURN_CODE 77 makes ctest report
# the entry as skipped. Since only [shared] test cases can skip, the entries that can be reported
# skipped hold nothing that could have run; scripts/test.sh counts the skips and fails when one
# happens while the shared data is present.
#
# DIFSS_SHARED_DIR is not set by ctest: the test main sets it to the configured default only
# where the environment names none, so `DIFSS_SHARED_DIR=/nonexistent ctest` reaches every test.
if(NOT DIFSS_BUILD_TESTS)
  function(difss_add_test)
  endfunction()
  return()
endif()

find_package(Catch2 REQUIRED)
if(NOT TARGET difss_catch_main)
  add_library(difss_catch_main STATIC ${CMAKE_SOURCE_DIR}/tests/support/catch_main.cpp
                                      ${CMAKE_SOURCE_DIR}/tests/support/test_skips.cpp)
  target_link_libraries(difss_catch_main PUBLIC Catch2::Catch2)
  target_include_directories(difss_catch_main PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
  target_compile_definitions(difss_catch_main PRIVATE DIFSS_DEFAULT_SHARED_DIR="${DIFSS_SHARED_DIR}")
endif()

# The parts (main, shared, slow, slow-shared) that the TEST_CASEs in the given sources fall in.
function(_difss_test_parts out)
  set(parts "")
  foreach(src ${ARGN})
    get_filename_component(abs ${src} ABSOLUTE)
    if(NOT EXISTS ${abs})
      continue()
    endif()
    file(READ ${abs} text)
    # A declaration runs from TEST_CASE to the opening brace of its body.
    string(REGEX MATCHALL "TEST_CASE[ \t\r\n]*\\([^{]*" decls "${text}")
    foreach(d IN LISTS decls)
      string(FIND "${d}" "[slow]" slow)
      string(FIND "${d}" "[shared]" shared)
      if(slow GREATER -1 AND shared GREATER -1)
        list(APPEND parts slow-shared)
      elseif(slow GREATER -1)
        list(APPEND parts slow)
      elseif(shared GREATER -1)
        list(APPEND parts shared)
      else()
        list(APPEND parts main)
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES parts)
  set(${out} ${parts} PARENT_SCOPE)
endfunction()

function(difss_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE difss_catch_main ${T_LIBS})
  difss_link_allocator(${name})  # tests run under the allocator the tools ship with
  target_compile_definitions(${name} PRIVATE
    DIFSS_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DIFSS_BINARY_DIR="${CMAKE_BINARY_DIR}"
    DIFSS_LINKED_ALLOCATOR="${DIFSS_ALLOCATOR_NAME}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  _difss_test_parts(parts ${T_SOURCES})
  if(NOT parts)
    message(FATAL_ERROR "difss_add_test(${name}): no TEST_CASE found in ${T_SOURCES}")
  endif()
  string(REPLACE ";" "," registered "${parts}")
  set(filter_main "~[shared]~[slow]")
  set(filter_shared "[shared]~[slow]")
  set(filter_slow "[slow]~[shared]")
  set(filter_slow-shared "[slow][shared]")
  set(labels_main fast)
  set(labels_shared fast shared)
  set(labels_slow slow)
  set(labels_slow-shared slow shared)
  foreach(part ${parts})
    set(test ${name}:${part})
    if(part STREQUAL "main")
      set(test ${name})
    endif()
    # --warn NoTests: a part whose filter selects nothing fails instead of passing empty.
    add_test(NAME ${test} COMMAND ${name} "${filter_${part}}" --warn NoTests)
    set_tests_properties(${test} PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
      LABELS "${labels_${part}};${T_LABELS}"
      ENVIRONMENT "DIFSS_TEST_PARTS=${registered};DIFSS_PLUGIN_PATH=${DIFSS_PLUGIN_BUILD_DIR};DIFSS_HOST_EXE=$<TARGET_FILE:difss-host>;OMP_NUM_THREADS=2")
  endforeach()
endfunction()

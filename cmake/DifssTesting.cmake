# Test helpers shared by every folder that has tests (core parts, plugins, tests/).
#
#   difss_add_test(NAME SOURCES src... [LIBS lib...] [LABELS l...])
#
# One executable per area, many test cases each: a process that links LibTorch takes ~0.5 s to
# start, so tests are grouped rather than split one per process. The Catch2 main is compiled
# once (difss_catch_main). Tests find the shared data through DIFSS_SHARED_DIR and skip with a
# message where it is absent.
if(NOT DIFSS_BUILD_TESTS)
  function(difss_add_test)
  endfunction()
  return()
endif()

find_package(Catch2 REQUIRED)
if(NOT TARGET difss_catch_main)
  add_library(difss_catch_main STATIC ${CMAKE_SOURCE_DIR}/tests/support/catch_main.cpp)
  target_link_libraries(difss_catch_main PUBLIC Catch2::Catch2)
  target_include_directories(difss_catch_main PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
endif()

function(difss_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE difss_catch_main ${T_LIBS})
  target_compile_definitions(${name} PRIVATE
    DIFSS_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DIFSS_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    ENVIRONMENT "DIFSS_SHARED_DIR=${DIFSS_SHARED_DIR};DIFSS_PLUGIN_PATH=${DIFSS_PLUGIN_BUILD_DIR};DIFSS_HOST_EXE=$<TARGET_FILE:difss-host>;OMP_NUM_THREADS=2")
endfunction()

# test_host_links: difss-host links the host library and system / third-party libraries only, no
# plugin, model library or tool code (issue 11). Run as
#   cmake -DEXE=<difss-host> -DREADELF=<readelf> -DNM=<nm> -P check_host_links.cmake
# Direct dependencies (ELF NEEDED): libdifss-core, and of the difss libraries only the layers it
# brings along (libdifss-data, libdifss-weights). Code linked in
# statically: no symbol of the model libraries' or tools' namespaces. Each check has a positive
# control so that it cannot pass by reading nothing.
foreach(v EXE READELF NM)
  if(NOT ${v})
    message(FATAL_ERROR "check_host_links: ${v} is not set")
  endif()
endforeach()

execute_process(COMMAND ${READELF} -d ${EXE} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d ${EXE} failed (${rc})")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" needed "${dyn}")
set(difss_needed "")
foreach(line ${needed})
  string(REGEX REPLACE ".*\\[([^]]+)\\].*" "\\1" lib "${line}")
  if(lib MATCHES "difss")
    list(APPEND difss_needed ${lib})
  endif()
endforeach()
message(STATUS "difss libraries difss-host needs: ${difss_needed}")
if(NOT difss_needed MATCHES "^libdifss-core\\.so")
  message(FATAL_ERROR "difss-host does not link libdifss-core (NEEDED: ${needed})")
endif()
# The host library's own shared dependencies (the data and weights layers) may appear; no plugin
# (difss_<name>.so) and no other difss library.
foreach(lib ${difss_needed})
  if(NOT lib MATCHES "^libdifss-(core|data|weights)\\.so")
    message(FATAL_ERROR "difss-host links ${lib}: only libdifss-core (and its data/weights layers) may be linked")
  endif()
endforeach()

execute_process(COMMAND ${NM} -C --defined-only ${EXE} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm ${EXE} failed (${rc}); a stripped executable cannot be checked")
endif()
if(NOT syms MATCHES "difss::cli::")
  message(FATAL_ERROR "nm shows no difss::cli:: symbol in ${EXE}: cannot check what it links")
endif()
string(REGEX MATCHALL "[^\n]*difss::(sd|fss|tiny|train|bench|condition|plugins)::[^\n]*" bad "${syms}")
if(bad)
  list(SUBLIST bad 0 10 first)
  string(REPLACE ";" "\n  " first "${first}")
  message(FATAL_ERROR "difss-host contains model-library or tool code:\n  ${first}")
endif()
message(STATUS "difss-host: of the difss libraries it links only libdifss-core and its layers; no model-library, plugin or tool symbols")

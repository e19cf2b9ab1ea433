# difss_add_plugin(<name>
#                  SOURCES src...        # the plugin's implementation
#                  [ENTRY src/entry.cpp] # the file with DIFSS_PLUGIN_LIBRARY(...); default: none
#                  [LIBS lib...]         # extra link libraries
#                  [TORCH])              # the plugin uses LibTorch (recorded in its fingerprint)
#
# Builds <name> as a MODULE (difss_<name>.so) that exports only `difss_plugin_entry`, and, when
# ENTRY is given separately, an object library <name>_objects that unit tests can link without
# the entry symbol (same objects: compiled once). Works in the difss tree and, after
# find_package(difss), out of tree.
include_guard(GLOBAL)
set(DIFSS_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/difss_plugin.map" CACHE INTERNAL "")

function(difss_add_plugin name)
  cmake_parse_arguments(P "TORCH" "ENTRY" "SOURCES;LIBS" ${ARGN})
  if(NOT P_SOURCES AND NOT P_ENTRY)
    message(FATAL_ERROR "difss_add_plugin(${name}): no SOURCES")
  endif()
  set(torch_version "")
  set(deps difss::sdk ${P_LIBS})
  if(P_TORCH)
    list(APPEND deps difss::torch)
    set(torch_version "${DIFSS_TORCH_VERSION}")
  endif()

  set(objs "")
  if(P_SOURCES)
    add_library(${name}_objects OBJECT ${P_SOURCES})
    set_target_properties(${name}_objects PROPERTIES POSITION_INDEPENDENT_CODE ON
                          CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden
                          VISIBILITY_INLINES_HIDDEN ON)
    target_link_libraries(${name}_objects PUBLIC ${deps})
    # PRIVATE: the entry macro reads it where it is compiled; a target that links several
    # plugins' objects (tests, tools) must not inherit two different values.
    target_compile_definitions(${name}_objects PRIVATE DIFSS_PLUGIN_TORCH_VERSION="${torch_version}")
    set(objs $<TARGET_OBJECTS:${name}_objects>)
  endif()

  add_library(${name} MODULE ${P_ENTRY} ${objs})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME "difss_${name}"
                        CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden
                        VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED DIFSS_PLUGIN_BUILD_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${DIFSS_PLUGIN_BUILD_DIR})
  endif()
  target_link_libraries(${name} PRIVATE ${deps})
  target_compile_definitions(${name} PRIVATE DIFSS_PLUGIN_TORCH_VERSION="${torch_version}")
  target_link_options(${name} PRIVATE "-Wl,--version-script=${DIFSS_PLUGIN_MAP}" "-Wl,--no-undefined")
  if(DEFINED DIFSS_PLUGIN_INSTALL_DIR)
    # <prefix>/lib/difss/plugins -> <prefix>/lib for the difss libraries a plugin links.
    set_target_properties(${name} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
    install(TARGETS ${name} LIBRARY DESTINATION ${DIFSS_PLUGIN_INSTALL_DIR})
  endif()
  set_property(GLOBAL APPEND PROPERTY DIFSS_ALL_PLUGINS ${name})
endfunction()

# difss_plugin_data(<name> SUBDIR <folder> FILES <file>...)
# Files a plugin reads at run time (e.g. its default weights) are copied to
# <plugin dir>/<folder>/ in the build tree after every link and installed to the same place, so
# the plugin finds them beside itself (sdk::Host::plugin_dir()). Missing files are skipped with
# a message (the plugin then reports them when it is created). A changed file relinks the plugin.
function(difss_plugin_data name)
  cmake_parse_arguments(P "" "SUBDIR" "FILES" ${ARGN})
  if(NOT P_SUBDIR OR NOT P_FILES)
    message(FATAL_ERROR "difss_plugin_data(${name}): SUBDIR and FILES are required")
  endif()
  set(present "")
  foreach(f ${P_FILES})
    get_filename_component(abs ${f} ABSOLUTE)
    if(EXISTS ${abs})
      list(APPEND present ${abs})
    else()
      message(STATUS "difss: ${name}: ${abs} not found, not copied beside the plugin")
    endif()
  endforeach()
  if(NOT present)
    return()
  endif()
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${present})
  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E make_directory $<TARGET_FILE_DIR:${name}>/${P_SUBDIR}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${present} $<TARGET_FILE_DIR:${name}>/${P_SUBDIR}/
    COMMENT "${name}: copying its data to <plugin dir>/${P_SUBDIR}")
  if(DEFINED DIFSS_PLUGIN_INSTALL_DIR)
    install(FILES ${present} DESTINATION ${DIFSS_PLUGIN_INSTALL_DIR}/${P_SUBDIR})
  endif()
endfunction()

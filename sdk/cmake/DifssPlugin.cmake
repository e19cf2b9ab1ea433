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
                          CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    target_link_libraries(${name}_objects PUBLIC ${deps})
    target_compile_definitions(${name}_objects PUBLIC DIFSS_PLUGIN_TORCH_VERSION="${torch_version}")
    set(objs $<TARGET_OBJECTS:${name}_objects>)
  endif()

  add_library(${name} MODULE ${P_ENTRY} ${objs})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME "difss_${name}"
                        CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
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

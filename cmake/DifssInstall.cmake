# The installed layout and the CMake package, so that third parties can write plugins:
#   <prefix>/bin/difss-host
#   <prefix>/lib/libdifss-*.so, <prefix>/lib/difss/plugins/difss_*.so
#   <prefix>/include/difss/{abi,sdk,core,...}
#   <prefix>/lib/cmake/difss/{difssConfig,difssTargets,DifssPlugin,DifssTorch}.cmake
# Out of tree: find_package(difss) + difss_add_plugin(name SOURCES ...).
include(CMakePackageConfigHelpers)
set(DIFSS_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/difss)
install(TARGETS difss_torch EXPORT difssTargets)
install(EXPORT difssTargets NAMESPACE difss:: DESTINATION ${DIFSS_CMAKE_INSTALL_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/difssConfig.cmake.in
  ${CMAKE_BINARY_DIR}/difssConfig.cmake INSTALL_DESTINATION ${DIFSS_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/difssConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/difssConfig.cmake ${CMAKE_BINARY_DIR}/difssConfigVersion.cmake
  ${CMAKE_SOURCE_DIR}/sdk/cmake/DifssPlugin.cmake ${CMAKE_SOURCE_DIR}/sdk/cmake/difss_plugin.map
  ${CMAKE_SOURCE_DIR}/cmake/DifssTorch.cmake
  DESTINATION ${DIFSS_CMAKE_INSTALL_DIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/difss/configs
  OPTIONAL)

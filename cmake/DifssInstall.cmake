# Installed as a CMake package: find_package(difss) + difss_add_plugin() out of tree.
include(CMakePackageConfigHelpers)
install(EXPORT difssTargets NAMESPACE difss:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/difss)

# LibTorch (Debian's libtorch-dev, 1.13.1) as one imported target, difss::torch.
#
# Debian's LibTorch pulls in glog, whose CHECK macro collides with Catch2's: test sources that
# need both include tests/support/catch_torch.hpp, which orders and undefines them.
find_package(Torch REQUIRED)
if(NOT TARGET difss::torch)
  add_library(difss_torch INTERFACE)
  add_library(difss::torch ALIAS difss_torch)
  set_target_properties(difss_torch PROPERTIES EXPORT_NAME torch)
  target_link_libraries(difss_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(difss_torch SYSTEM INTERFACE "$<BUILD_INTERFACE:${TORCH_INCLUDE_DIRS}>")
  # TORCH_CXX_FLAGS carries -D_GLIBCXX_USE_CXX11_ABI=...; keep it consistent everywhere.
  separate_arguments(_difss_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(difss_torch INTERFACE ${_difss_torch_flags})
endif()
set(DIFSS_TORCH_VERSION "${Torch_VERSION}")

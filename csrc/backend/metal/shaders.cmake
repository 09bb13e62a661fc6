# The Metal backend's source lists and the embedded shader string, shared by
# metal.cmake (the backend, on Apple platforms) and linux_check/checks.cmake
# (the Linux syntax checks and CPU emulation). Include once per build.
include_guard(GLOBAL)

set(ZW_METAL_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(ZW_METAL_REPO_DIR "${ZW_METAL_DIR}/../../.." ABSOLUTE)
set(ZW_METAL_KERNEL_DIR ${ZW_METAL_DIR}/kernels)          # .metal shaders, headers shared with the host
set(ZW_METAL_SHARED_DIR ${ZW_METAL_REPO_DIR}/csrc/kernels)  # kernel_math.h (CPU, CUDA, Metal)
set(ZW_METAL_ABI_DIR ${ZW_METAL_REPO_DIR}/guest/include)    # zerowasm_abi.h

# Objective-C++ (ARC) and plain C++ sources of the backend. The plain C++ ones
# (encode plan, buffer views) also build and run on Linux in the checks.
set(ZW_METAL_OBJCXX_SOURCES
  ${ZW_METAL_DIR}/metal_backend.mm
  ${ZW_METAL_DIR}/metal_context.mm
  ${ZW_METAL_DIR}/metal_executor.mm)
set(ZW_METAL_CXX_SOURCES
  ${ZW_METAL_DIR}/buffer_views.cpp
  ${ZW_METAL_DIR}/encode_plan.cpp)

file(GLOB ZW_METAL_SHADERS CONFIGURE_DEPENDS ${ZW_METAL_KERNEL_DIR}/*.metal)
file(GLOB ZW_METAL_SHADER_INPUTS CONFIGURE_DEPENDS
     ${ZW_METAL_KERNEL_DIR}/*.metal ${ZW_METAL_KERNEL_DIR}/*.h ${ZW_METAL_SHARED_DIR}/*.h
     ${ZW_METAL_ABI_DIR}/zerowasm_abi.h)

# kernels/*.metal with their quoted includes inlined: one string for
# newLibraryWithSource (.metal, for inspection and the Linux checks) and the
# same bytes as a C++ array compiled into the library (.cpp).
set(ZW_METAL_EMBEDDED_CPP ${CMAKE_BINARY_DIR}/zerowasm_metal_shaders.cpp)
set(ZW_METAL_EMBEDDED_SOURCE ${CMAKE_BINARY_DIR}/zerowasm_metal_shaders.metal)
add_custom_command(
  OUTPUT ${ZW_METAL_EMBEDDED_CPP} ${ZW_METAL_EMBEDDED_SOURCE}
  COMMAND ${CMAKE_COMMAND}
          -DSHADER_DIR=${ZW_METAL_KERNEL_DIR}
          -DSHARED_DIR=${ZW_METAL_SHARED_DIR}
          -DABI_DIR=${ZW_METAL_ABI_DIR}
          -DOUTPUT_METAL=${ZW_METAL_EMBEDDED_SOURCE}
          -DOUTPUT_CPP=${ZW_METAL_EMBEDDED_CPP}
          -P ${ZW_METAL_DIR}/embed_shaders.cmake
  DEPENDS ${ZW_METAL_SHADER_INPUTS} ${ZW_METAL_DIR}/embed_shaders.cmake
  COMMENT "Embedding zerowasm Metal shaders"
  VERBATIM)
add_custom_target(zw_metal_embedded_shaders DEPENDS ${ZW_METAL_EMBEDDED_CPP} ${ZW_METAL_EMBEDDED_SOURCE})

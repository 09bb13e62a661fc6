# Metal backend (macOS). The top-level CMakeLists.txt includes this file only
# when APPLE, after the `zerowasm` static library target exists.
#
# - Objective-C++ sources, all compiled with ARC (-fobjc-arc; metal_context.h
#   refuses to compile without it).
# - The shaders (metal/*.metal with csrc/kernels/kernel_math.h and the other
#   quoted includes inlined) are embedded as a byte array by
#   embed_shaders.cmake and compiled at run time with newLibraryWithSource:
#   no `metal` command-line compiler or Xcode is needed to build.
# - Links Metal, Foundation and CoreGraphics (without CoreGraphics, command
#   line processes may get no default Metal device).

enable_language(OBJCXX)  # OBJCXX_STANDARD follows CXX_STANDARD

set(ZW_METAL_BACKEND_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(ZW_METAL_REPO_DIR "${ZW_METAL_BACKEND_DIR}/../../.." ABSOLUTE)
set(ZW_METAL_SHADER_DIR ${ZW_METAL_REPO_DIR}/metal)
set(ZW_METAL_SHARED_DIR ${ZW_METAL_REPO_DIR}/csrc/kernels)

file(GLOB ZW_METAL_SHADER_INPUTS CONFIGURE_DEPENDS
     ${ZW_METAL_SHADER_DIR}/*.metal ${ZW_METAL_SHADER_DIR}/*.h ${ZW_METAL_SHARED_DIR}/*.h)
set(ZW_METAL_EMBEDDED_CPP ${CMAKE_CURRENT_BINARY_DIR}/zerowasm_metal_shaders.cpp)
set(ZW_METAL_EMBEDDED_SOURCE ${CMAKE_CURRENT_BINARY_DIR}/zerowasm_metal_shaders.metal)
add_custom_command(
  OUTPUT ${ZW_METAL_EMBEDDED_CPP} ${ZW_METAL_EMBEDDED_SOURCE}
  COMMAND ${CMAKE_COMMAND}
          -DSHADER_DIR=${ZW_METAL_SHADER_DIR}
          -DSHARED_DIR=${ZW_METAL_SHARED_DIR}
          -DOUTPUT_METAL=${ZW_METAL_EMBEDDED_SOURCE}
          -DOUTPUT_CPP=${ZW_METAL_EMBEDDED_CPP}
          -P ${ZW_METAL_BACKEND_DIR}/embed_shaders.cmake
  DEPENDS ${ZW_METAL_SHADER_INPUTS} ${ZW_METAL_BACKEND_DIR}/embed_shaders.cmake
  COMMENT "Embedding zerowasm Metal shaders"
  VERBATIM)

set(ZW_METAL_OBJCXX_SOURCES
  ${ZW_METAL_BACKEND_DIR}/metal_backend.mm
  ${ZW_METAL_BACKEND_DIR}/metal_context.mm
  ${ZW_METAL_BACKEND_DIR}/metal_executor.mm)
set_source_files_properties(${ZW_METAL_OBJCXX_SOURCES} PROPERTIES COMPILE_OPTIONS "-fobjc-arc")

target_sources(zerowasm PRIVATE
  ${ZW_METAL_OBJCXX_SOURCES}
  ${ZW_METAL_BACKEND_DIR}/buffer_views.cpp
  ${ZW_METAL_EMBEDDED_CPP})
# zw_metal_params.h is shared by the shaders and the executor.
target_include_directories(zerowasm PRIVATE ${ZW_METAL_SHADER_DIR})
target_compile_options(zerowasm PRIVATE $<$<COMPILE_LANGUAGE:OBJCXX>:-Wall -Wextra>)
target_compile_definitions(zerowasm PUBLIC ZEROWASM_HAVE_METAL=1)
target_link_libraries(zerowasm PUBLIC
  "-framework Metal" "-framework Foundation" "-framework CoreGraphics")

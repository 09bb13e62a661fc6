# Metal backend (macOS). The top-level CMakeLists.txt includes this file only
# when APPLE, after the `zerowasm` static library target exists.
#
# - Objective-C++ sources, all compiled with ARC (-fobjc-arc; metal_context.h
#   refuses to compile without it), and the plain C++ encode plan and buffer
#   views (shaders.cmake lists them all).
# - The shaders (kernels/*.metal with csrc/kernels/kernel_math.h,
#   guest/include/zerowasm_abi.h and the other quoted includes inlined) are
#   embedded as a byte array by embed_shaders.cmake and compiled at run time
#   with newLibraryWithSource: no `metal` command-line compiler or Xcode is
#   needed to build.
# - Links Metal, Foundation and CoreGraphics (without CoreGraphics, command
#   line processes may get no default Metal device).

enable_language(OBJCXX)  # OBJCXX_STANDARD follows CXX_STANDARD
include(${CMAKE_CURRENT_LIST_DIR}/shaders.cmake)

set_source_files_properties(${ZW_METAL_OBJCXX_SOURCES} PROPERTIES COMPILE_OPTIONS "-fobjc-arc")

target_sources(zerowasm PRIVATE
  ${ZW_METAL_OBJCXX_SOURCES}
  ${ZW_METAL_CXX_SOURCES}
  ${ZW_METAL_EMBEDDED_CPP})
target_compile_options(zerowasm PRIVATE $<$<COMPILE_LANGUAGE:OBJCXX>:-Wall -Wextra>)
target_compile_definitions(zerowasm PUBLIC ZEROWASM_HAVE_METAL=1)
target_link_libraries(zerowasm PUBLIC
  "-framework Metal" "-framework Foundation" "-framework CoreGraphics")

# Vulkan backend. Included by the top-level CMakeLists.txt after the `zerowasm`
# static library exists, when ZEROWASM_VULKAN is ON or AUTO.
#
# Nothing links against Vulkan: the loader (libvulkan.so.1 / vulkan-1.dll /
# libvulkan.1.dylib) is opened at run time. The build needs only the Vulkan
# headers (for types) and glslc (GLSL -> SPIR-V); every shader listed in
# vk_kernels.h is compiled and embedded into the library as a byte array.
#
# Inputs:  ZEROWASM_VULKAN (ON/OFF/AUTO); Vulkan_INCLUDE_DIR / VULKAN_SDK; glslc on PATH.
# Effect:  adds sources to `zerowasm`, defines ZEROWASM_HAVE_VULKAN=1 on it,
#          sets ZEROWASM_HAVE_VULKAN in the including scope.

set(ZEROWASM_HAVE_VULKAN OFF)
set(_zw_vk_dir ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(_zw_csrc ${_zw_vk_dir}/../.. ABSOLUTE)
get_filename_component(_zw_guest_include ${_zw_csrc}/../guest/include ABSOLUTE)

macro(_zw_vk_skip reason)
  if(ZEROWASM_VULKAN STREQUAL "ON")
    message(FATAL_ERROR "ZEROWASM_VULKAN=ON but ${reason}")
  endif()
  message(STATUS "zerowasm: Vulkan backend not built (${reason})")
  return()
endmacro()

find_path(ZEROWASM_VULKAN_INCLUDE_DIR vulkan/vulkan_core.h HINTS ENV VULKAN_SDK PATH_SUFFIXES include)
if(NOT ZEROWASM_VULKAN_INCLUDE_DIR)
  _zw_vk_skip("no Vulkan headers found (Debian: libvulkan-dev)")
endif()
find_program(ZEROWASM_GLSLC glslc HINTS ENV VULKAN_SDK PATH_SUFFIXES bin)
if(NOT ZEROWASM_GLSLC)
  _zw_vk_skip("no glslc found (Debian: glslc)")
endif()

# The kernel list: X(name, source.comp, "defines") lines of vk_kernels.h.
# (MATCHALL, not file(STRINGS): the lines' trailing backslashes would escape
# the list separators.)
file(READ ${_zw_vk_dir}/vk_kernels.h _zw_vk_header)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_zw_vk_dir}/vk_kernels.h)  # new entries re-run this
string(REGEX MATCHALL "X\\([a-z0-9_]+, [a-z0-9_]+\\.comp, \"[^\"]*\"\\)" _zw_vk_lines "${_zw_vk_header}")
string(REGEX MATCHALL "\n  X\\(" _zw_vk_entries "${_zw_vk_header}")
list(LENGTH _zw_vk_lines _zw_vk_count)
list(LENGTH _zw_vk_entries _zw_vk_expected)
if(NOT _zw_vk_count EQUAL _zw_vk_expected)
  message(FATAL_ERROR "vk_kernels.h: parsed ${_zw_vk_count} of ${_zw_vk_expected} X(name, source.comp, \"defines\") entries")
endif()
set(_zw_out ${CMAKE_BINARY_DIR}/zerowasm_vulkan)
file(MAKE_DIRECTORY ${_zw_out})
file(GLOB _zw_vk_shader_deps CONFIGURE_DEPENDS ${_zw_vk_dir}/shaders/*.comp ${_zw_vk_dir}/shaders/*.glsl)
list(APPEND _zw_vk_shader_deps ${_zw_guest_include}/zerowasm_abi.h ${_zw_vk_dir}/vk_kernels.h)
set(_zw_vk_embedded)
foreach(line IN LISTS _zw_vk_lines)
  if(NOT line MATCHES "X\\(([a-z0-9_]+), ([a-z0-9_]+\\.comp), \"([^\"]*)\"\\)")
    message(FATAL_ERROR "vk_kernels.h: cannot parse '${line}'")
  endif()
  set(name ${CMAKE_MATCH_1})
  set(source ${_zw_vk_dir}/shaders/${CMAKE_MATCH_2})
  separate_arguments(defines UNIX_COMMAND "${CMAKE_MATCH_3}")
  add_custom_command(
    OUTPUT ${_zw_out}/${name}.spv
    COMMAND ${ZEROWASM_GLSLC} --target-env=vulkan1.2 -O -fshader-stage=compute -I${_zw_guest_include}
            -I${_zw_vk_dir}/shaders ${defines} -o ${_zw_out}/${name}.spv ${source}
    DEPENDS ${_zw_vk_shader_deps}
    COMMENT "glslc: Vulkan shader ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_zw_out}/zw_vk_spv_${name}.cpp
    COMMAND ${CMAKE_COMMAND} -DINPUT=${_zw_out}/${name}.spv -DOUTPUT=${_zw_out}/zw_vk_spv_${name}.cpp
            -DSYMBOL=zw_vk_spv_${name} -P ${_zw_csrc}/backend/cuda/embed_binary.cmake
    DEPENDS ${_zw_out}/${name}.spv ${_zw_csrc}/backend/cuda/embed_binary.cmake
    COMMENT "Embedding Vulkan shader ${name}"
    VERBATIM)
  list(APPEND _zw_vk_embedded ${_zw_out}/zw_vk_spv_${name}.cpp)
endforeach()

target_sources(zerowasm PRIVATE
  ${_zw_vk_dir}/vk_api.cpp
  ${_zw_vk_dir}/vk_device.cpp
  ${_zw_vk_dir}/vk_executor.cpp
  ${_zw_vk_dir}/vk_backend.cpp
  ${_zw_vk_embedded})
target_include_directories(zerowasm PRIVATE ${ZEROWASM_VULKAN_INCLUDE_DIR})
target_compile_definitions(zerowasm PUBLIC ZEROWASM_HAVE_VULKAN=1)
target_link_libraries(zerowasm PUBLIC ${CMAKE_DL_LIBS})

set(ZEROWASM_HAVE_VULKAN ON)
message(STATUS "zerowasm: Vulkan backend enabled (glslc ${ZEROWASM_GLSLC}, headers ${ZEROWASM_VULKAN_INCLUDE_DIR})")

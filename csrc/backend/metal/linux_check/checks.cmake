# Linux checks of the Metal backend (no Apple SDK or GPU needed), as CTest
# tests labelled "metal". Off by default unless ZEROWASM_BUILD_TESTS is on;
# tests/test_metal_*.py configure a build with -DZEROWASM_METAL_LINUX_CHECKS=ON
# and run them:
#   cmake -S . -B build/metal-linux-checks -DZEROWASM_METAL_LINUX_CHECKS=ON -DZEROWASM_CUDA=OFF
#   cmake --build build/metal-linux-checks --target zw_metal_linux_checks
#   ctest --test-dir build/metal-linux-checks -L metal
#
# - Syntax: every shader, the embedded string and kernel_math.h parse as C++
#   in Metal mode (syntax_prelude.h, msl_declarations/metal_stdlib: the MSL
#   library subset the shaders use, declarations only), with the project's
#   C++ compiler and clang++ if present; the Objective-C++ sources parse with
#   clang (ARC on) against stand-ins of the Metal/Foundation declarations
#   they use (objc/).
# - Kernel names: ZW_METAL_KERNELS names exactly the shaders' kernels.
# - Embedding: the library's kSource is byte for byte the combined source.
# - Emulation: kernel_driver runs the shaders on the CPU (msl_emulator/) with
#   the executor's encode plan; tests/test_metal_kernels_emulated.py drives it
#   against float64 references, tests/test_metal_buffer_views.py drives
#   buffer_views_driver.
# On by default wherever the project's native tests are built (ZEROWASM_BUILD_TESTS).
if(DEFINED ZEROWASM_BUILD_TESTS)
  set(ZW_METAL_LINUX_CHECKS_DEFAULT ${ZEROWASM_BUILD_TESTS})
else()
  set(ZW_METAL_LINUX_CHECKS_DEFAULT OFF)
endif()
option(ZEROWASM_METAL_LINUX_CHECKS "Build and register the Linux checks of the Metal backend (CTest label metal)"
       ${ZW_METAL_LINUX_CHECKS_DEFAULT})
if(NOT ZEROWASM_METAL_LINUX_CHECKS)
  return()
endif()
include(${CMAKE_CURRENT_LIST_DIR}/../shaders.cmake)

set(ZW_METAL_CHECK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(ZW_METAL_HOST_INCLUDES ${ZW_METAL_REPO_DIR}/csrc ${ZW_METAL_REPO_DIR}/csrc/include ${ZW_METAL_ABI_DIR})
find_package(Threads REQUIRED)

# ---- built and run: encode plan, buffer views, emulator ------------------------------

add_library(zw_metal_host STATIC ${ZW_METAL_CXX_SOURCES})
target_include_directories(zw_metal_host PUBLIC ${ZW_METAL_HOST_INCLUDES})
target_compile_options(zw_metal_host PRIVATE -Wall -Wextra -Werror)

add_executable(zw_metal_buffer_views_driver ${ZW_METAL_CHECK_DIR}/buffer_views_driver.cpp)
target_link_libraries(zw_metal_buffer_views_driver PRIVATE zw_metal_host)
target_compile_options(zw_metal_buffer_views_driver PRIVATE -Wall -Wextra -Werror)

# The shaders compiled as C++ (their [[attributes]] are unknown there) at -O1:
# one OS thread per GPU thread is slow enough without -O0, and -O3 only adds
# build time.
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(ZW_METAL_NO_ATTRIBUTE_WARNINGS -Wno-unknown-attributes)
else()
  set(ZW_METAL_NO_ATTRIBUTE_WARNINGS -Wno-attributes)
endif()
# The op arguments are validated by the project's own ArgChecker (ops/validate.cpp).
add_executable(zw_metal_kernel_driver ${ZW_METAL_CHECK_DIR}/kernel_driver.cpp ${ZW_METAL_REPO_DIR}/csrc/ops/validate.cpp)
add_dependencies(zw_metal_kernel_driver zw_metal_embedded_shaders)
set_source_files_properties(${ZW_METAL_CHECK_DIR}/kernel_driver.cpp PROPERTIES
  OBJECT_DEPENDS ${ZW_METAL_EMBEDDED_SOURCE})
target_compile_definitions(zw_metal_kernel_driver PRIVATE "ZW_SHADER_SOURCE=\"${ZW_METAL_EMBEDDED_SOURCE}\"")
target_include_directories(zw_metal_kernel_driver PRIVATE ${ZW_METAL_CHECK_DIR}/msl_emulator)
target_compile_options(zw_metal_kernel_driver PRIVATE -O1 -Wall -Wextra -Werror ${ZW_METAL_NO_ATTRIBUTE_WARNINGS})
target_link_libraries(zw_metal_kernel_driver PRIVATE zw_metal_host Threads::Threads)

add_executable(zw_metal_embedded_dump ${ZW_METAL_CHECK_DIR}/embedded_dump.cpp ${ZW_METAL_EMBEDDED_CPP})
add_dependencies(zw_metal_embedded_dump zw_metal_embedded_shaders)  # one embedding step at a time (make)
target_include_directories(zw_metal_embedded_dump PRIVATE ${ZW_METAL_HOST_INCLUDES})
target_compile_options(zw_metal_embedded_dump PRIVATE -Wall -Wextra -Werror)

add_custom_target(zw_metal_linux_checks DEPENDS
  zw_metal_host zw_metal_buffer_views_driver zw_metal_kernel_driver zw_metal_embedded_dump
  zw_metal_embedded_shaders)

add_test(NAME metal_kernel_names
  COMMAND ${CMAKE_COMMAND} -DDRIVER=$<TARGET_FILE:zw_metal_kernel_driver> -DCOMPILER=${CMAKE_CXX_COMPILER}
          -DPRELUDE=${ZW_METAL_CHECK_DIR}/syntax_prelude.h -DSTDLIB_DIR=${ZW_METAL_CHECK_DIR}/msl_declarations
          -DCOMBINED=${ZW_METAL_EMBEDDED_SOURCE} -P ${ZW_METAL_CHECK_DIR}/check_kernel_names.cmake)
add_test(NAME metal_embedded_source
  COMMAND ${CMAKE_COMMAND} -DDUMP=$<TARGET_FILE:zw_metal_embedded_dump> -DCOMBINED=${ZW_METAL_EMBEDDED_SOURCE}
          -DOUT=${CMAKE_CURRENT_BINARY_DIR}/zerowasm_metal_shaders.dumped -P ${ZW_METAL_CHECK_DIR}/check_embedded.cmake)
set_tests_properties(metal_kernel_names metal_embedded_source PROPERTIES LABELS metal)

# ---- parsed only: shaders (Metal mode) and Objective-C++ -----------------------------

# The project's compiler, and clang++ too: its stand-in for `half` is stricter.
set(ZW_METAL_SYNTAX_COMPILERS ${CMAKE_CXX_COMPILER})
find_program(ZW_METAL_CLANGXX NAMES clang++ clang++-20 clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
if(ZW_METAL_CLANGXX AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND ZW_METAL_SYNTAX_COMPILERS ${ZW_METAL_CLANGXX})
elseif(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(ZW_METAL_CLANGXX ${CMAKE_CXX_COMPILER})
endif()

# zw_metal_syntax_test(<name> <compiler> <std> <source> [include dirs...]):
# parses <source> as Metal (MSL is based on C++14) under syntax_prelude.h.
function(zw_metal_syntax_test name compiler std source)
  if(compiler MATCHES "clang")
    set(no_attribute_warnings -Wno-unknown-attributes)
  else()
    set(no_attribute_warnings -Wno-attributes)
  endif()
  set(includes "")
  foreach(dir IN LISTS ARGN)
    list(APPEND includes "-I${dir}")
  endforeach()
  add_test(NAME ${name}
    COMMAND ${compiler} -fsyntax-only -x c++ -std=${std} -Wall -Wextra -Werror ${no_attribute_warnings}
            -include ${ZW_METAL_CHECK_DIR}/syntax_prelude.h -I${ZW_METAL_CHECK_DIR}/msl_declarations
            ${includes} ${source})
  set_tests_properties(${name} PROPERTIES LABELS metal)
endfunction()

set(ZW_METAL_SHADER_INCLUDES ${ZW_METAL_KERNEL_DIR} ${ZW_METAL_SHARED_DIR} ${ZW_METAL_ABI_DIR})
foreach(compiler IN LISTS ZW_METAL_SYNTAX_COMPILERS)
  get_filename_component(cid ${compiler} NAME)
  foreach(shader IN LISTS ZW_METAL_SHADERS)
    get_filename_component(shader_name ${shader} NAME_WE)
    zw_metal_syntax_test(metal_syntax_${cid}_${shader_name} ${compiler} c++14 ${shader} ${ZW_METAL_SHADER_INCLUDES})
  endforeach()
  foreach(std c++14 c++17)
    # The string handed to newLibraryWithSource needs no include file of ours.
    zw_metal_syntax_test(metal_syntax_${cid}_embedded_${std} ${compiler} ${std} ${ZW_METAL_EMBEDDED_SOURCE})
    zw_metal_syntax_test(metal_syntax_${cid}_kernel_math_in_shaders_${std} ${compiler} ${std}
                         ${ZW_METAL_CHECK_DIR}/kernel_math_in_shaders.metal.cpp ${ZW_METAL_SHADER_INCLUDES})
  endforeach()
  zw_metal_syntax_test(metal_syntax_${cid}_kernel_math_alone ${compiler} c++14
                       ${ZW_METAL_CHECK_DIR}/kernel_math_alone.metal.cpp ${ZW_METAL_SHARED_DIR} ${ZW_METAL_ABI_DIR})
endforeach()

if(ZW_METAL_CLANGXX)
  foreach(source IN LISTS ZW_METAL_OBJCXX_SOURCES)
    get_filename_component(source_name ${source} NAME_WE)
    add_test(NAME metal_objcxx_${source_name}
      COMMAND ${ZW_METAL_CLANGXX} -x objective-c++ -std=c++20 -fsyntax-only -fobjc-arc -fblocks
              -fobjc-runtime=macosx-11.0 -Wall -Wextra -Wshorten-64-to-32 -Werror -Wno-nullability-completeness
              -I${ZW_METAL_CHECK_DIR}/objc -I${ZW_METAL_REPO_DIR}/csrc -I${ZW_METAL_REPO_DIR}/csrc/include
              -I${ZW_METAL_ABI_DIR} ${source})
    set_tests_properties(metal_objcxx_${source_name} PROPERTIES LABELS metal)
  endforeach()
else()
  message(STATUS "zerowasm: clang++ not found, the Objective-C++ Metal sources are not syntax-checked")
endif()

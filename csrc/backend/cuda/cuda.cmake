# CUDA backend. Included by the top-level CMakeLists.txt after the `zerowasm`
# static library exists, when ZEROWASM_CUDA is ON or AUTO (and not on Apple).
#
# The host sources need no CUDA toolkit or driver at all (the driver is
# dlopen'ed at run time); only the kernels need nvcc, which compiles them into
# one fatbin (cubins for ZEROWASM_CUDA_ARCHS plus PTX for ZEROWASM_CUDA_PTX_ARCH,
# so newer GPUs JIT it) that is embedded into the library as a byte array.
#
# Inputs:  ZEROWASM_CUDA (ON/OFF/AUTO), CMAKE_CUDA_COMPILER (from check_language)
#          or nvcc on PATH / CUDA_PATH / CUDA_HOME / /usr/local/cuda.
# Effect:  adds sources to `zerowasm`, defines ZEROWASM_HAVE_CUDA=1 on it
#          (PUBLIC), sets ZEROWASM_HAVE_CUDA in the including scope.
# Options: ZEROWASM_CUDA_EMU_TESTS builds the CPU-emulated driver and its test.

set(ZEROWASM_HAVE_CUDA OFF)
set(_zw_cuda_dir ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(_zw_csrc ${_zw_cuda_dir}/../.. ABSOLUTE)

if(CMAKE_CUDA_COMPILER)
  set(ZEROWASM_NVCC ${CMAKE_CUDA_COMPILER})
else()
  find_program(ZEROWASM_NVCC nvcc
    HINTS ENV CUDA_PATH ENV CUDA_HOME /usr/local/cuda /opt/cuda
    PATH_SUFFIXES bin)
endif()
if(NOT ZEROWASM_NVCC)
  if(ZEROWASM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ZEROWASM_CUDA=ON but nvcc was not found (set CUDA_PATH or CMAKE_CUDA_COMPILER)")
  endif()
  message(STATUS "zerowasm: CUDA backend not built (no nvcc found)")
  return()
endif()

execute_process(COMMAND ${ZEROWASM_NVCC} --version OUTPUT_VARIABLE _zw_nvcc_out ERROR_QUIET RESULT_VARIABLE _zw_nvcc_rc)
if(NOT _zw_nvcc_rc EQUAL 0 OR NOT _zw_nvcc_out MATCHES "release ([0-9]+\\.[0-9]+)")
  if(ZEROWASM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ZEROWASM_CUDA=ON but '${ZEROWASM_NVCC} --version' failed")
  endif()
  message(STATUS "zerowasm: CUDA backend not built ('${ZEROWASM_NVCC} --version' failed)")
  return()
endif()
set(ZEROWASM_NVCC_VERSION ${CMAKE_MATCH_1})

set(ZEROWASM_CUDA_ARCHS "80;90" CACHE STRING "GPU architectures the embedded CUDA kernels are compiled for (SASS)")
set(ZEROWASM_CUDA_PTX_ARCH "90" CACHE STRING "Virtual architecture of the embedded PTX (JIT for newer GPUs)")
set(_zw_gencode)
foreach(arch IN LISTS ZEROWASM_CUDA_ARCHS)
  list(APPEND _zw_gencode -gencode arch=compute_${arch},code=sm_${arch})
endforeach()
if(ZEROWASM_CUDA_PTX_ARCH)
  list(APPEND _zw_gencode -gencode arch=compute_${ZEROWASM_CUDA_PTX_ARCH},code=compute_${ZEROWASM_CUDA_PTX_ARCH})
endif()
set(_zw_nvcc_host)
if(CMAKE_CUDA_HOST_COMPILER)
  set(_zw_nvcc_host -ccbin ${CMAKE_CUDA_HOST_COMPILER})
endif()
list(JOIN ZEROWASM_CUDA_ARCHS " sm_" _zw_arch_text)
set(_zw_build_info "nvcc ${ZEROWASM_NVCC_VERSION}: sm_${_zw_arch_text} cubins + compute_${ZEROWASM_CUDA_PTX_ARCH} PTX")

set(_zw_out ${CMAKE_BINARY_DIR}/zerowasm_cuda)
file(MAKE_DIRECTORY ${_zw_out})
file(GLOB _zw_kernel_sources CONFIGURE_DEPENDS ${_zw_cuda_dir}/kernels/*.cu ${_zw_cuda_dir}/kernels/*.cuh
     ${_zw_cuda_dir}/kernels/*.h)
list(APPEND _zw_kernel_sources ${_zw_csrc}/kernels/kernel_math.h ${_zw_csrc}/../guest/include/zerowasm_abi.h)

add_custom_command(
  OUTPUT ${_zw_out}/zw_kernels.fatbin
  COMMAND ${ZEROWASM_NVCC} --fatbin -O3 -std=c++17 ${_zw_nvcc_host} ${_zw_gencode} -I${_zw_csrc}
          -o ${_zw_out}/zw_kernels.fatbin ${_zw_cuda_dir}/kernels/zw_kernels.cu
  DEPENDS ${_zw_kernel_sources}
  COMMENT "nvcc ${ZEROWASM_NVCC_VERSION}: CUDA kernels (${_zw_build_info})"
  VERBATIM)
add_custom_command(
  OUTPUT ${_zw_out}/zw_cuda_fatbin.cpp
  COMMAND ${CMAKE_COMMAND} -DINPUT=${_zw_out}/zw_kernels.fatbin -DOUTPUT=${_zw_out}/zw_cuda_fatbin.cpp
          -DSYMBOL=zw_cuda_fatbin "-DBUILD_INFO=${_zw_build_info}" -P ${_zw_cuda_dir}/embed_binary.cmake
  DEPENDS ${_zw_out}/zw_kernels.fatbin ${_zw_cuda_dir}/embed_binary.cmake
  COMMENT "Embedding the CUDA fatbin"
  VERBATIM)

set(ZEROWASM_CUDA_HOST_SOURCES
  ${_zw_cuda_dir}/cuda_driver.cpp
  ${_zw_cuda_dir}/cuda_device.cpp
  ${_zw_cuda_dir}/cuda_managed_region.cpp
  ${_zw_cuda_dir}/cuda_executor.cpp
  ${_zw_cuda_dir}/cuda_backend.cpp)
# Bench hooks (cuda_debug.cpp) are not part of the library: the top level
# builds them into the optional zerowasm._cuda_bench module.
set(ZEROWASM_CUDA_BENCH_SOURCES ${_zw_cuda_dir}/cuda_debug.cpp)
target_sources(zerowasm PRIVATE ${ZEROWASM_CUDA_HOST_SOURCES} ${_zw_out}/zw_cuda_fatbin.cpp)
target_compile_definitions(zerowasm PUBLIC ZEROWASM_HAVE_CUDA=1)
target_link_libraries(zerowasm PUBLIC ${CMAKE_DL_LIBS})

# Build-time proof that cuda_driver.hpp's hand-written declarations match the
# toolkit's cuda.h (compiled only; nothing links it).
get_filename_component(_zw_nvcc_bin ${ZEROWASM_NVCC} DIRECTORY)
find_path(ZEROWASM_CUDA_INCLUDE_DIR cuda.h
  HINTS ${_zw_nvcc_bin}/../include ${_zw_nvcc_bin}/../targets/x86_64-linux/include
        ${_zw_nvcc_bin}/../targets/sbsa-linux/include
  NO_DEFAULT_PATH)
if(ZEROWASM_CUDA_INCLUDE_DIR)
  add_library(zerowasm_cuda_decl_check OBJECT ${_zw_cuda_dir}/check_driver_decls.cpp)
  target_include_directories(zerowasm_cuda_decl_check PRIVATE ${_zw_csrc} ${_zw_csrc}/include
                             ${ZEROWASM_CUDA_INCLUDE_DIR})
  add_dependencies(zerowasm zerowasm_cuda_decl_check)
endif()

option(ZEROWASM_CUDA_EMU_TESTS "Build the CPU-emulated CUDA driver and the backend test that uses it" OFF)
if(ZEROWASM_CUDA_EMU_TESTS)
  find_package(Threads REQUIRED)
  add_library(zw_fake_cuda SHARED ${_zw_cuda_dir}/emu/fake_libcuda.cpp ${_zw_cuda_dir}/emu/cuda_emulation.cpp)
  target_include_directories(zw_fake_cuda PRIVATE ${_zw_csrc} ${_zw_csrc}/include)
  target_compile_features(zw_fake_cuda PRIVATE cxx_std_20)
  target_link_libraries(zw_fake_cuda PRIVATE Threads::Threads)
  add_executable(zw_cuda_emu_test ${_zw_cuda_dir}/emu/cuda_emu_test.cpp)
  target_include_directories(zw_cuda_emu_test PRIVATE ${_zw_csrc})
  target_link_libraries(zw_cuda_emu_test PRIVATE zerowasm)
  add_dependencies(zw_cuda_emu_test zw_fake_cuda)
  # Registered with CTest where the top level calls enable_testing().
  set(_zw_fake $<TARGET_FILE:zw_fake_cuda>)
  add_test(NAME cuda_emu_ops COMMAND zw_cuda_emu_test ops)
  set_tests_properties(cuda_emu_ops PROPERTIES ENVIRONMENT "ZEROWASM_LIBCUDA=${_zw_fake}")
  add_test(NAME cuda_emu_ops_no_shared_address COMMAND zw_cuda_emu_test ops)
  set_tests_properties(cuda_emu_ops_no_shared_address PROPERTIES
                       ENVIRONMENT "ZEROWASM_LIBCUDA=${_zw_fake};ZW_FAKE_CUDA_HOST_PTR=0")
  add_test(NAME cuda_emu_missing_driver COMMAND zw_cuda_emu_test missing)
  set_tests_properties(cuda_emu_missing_driver PROPERTIES ENVIRONMENT "ZEROWASM_LIBCUDA=/nonexistent/libcuda.so.1")
  add_test(NAME cuda_emu_init_error COMMAND zw_cuda_emu_test init-error)
  set_tests_properties(cuda_emu_init_error PROPERTIES
                       ENVIRONMENT "ZEROWASM_LIBCUDA=${_zw_fake};ZW_FAKE_CUDA_INIT_ERROR=100")
  add_test(NAME cuda_emu_old_gpu COMMAND zw_cuda_emu_test old-gpu)
  set_tests_properties(cuda_emu_old_gpu PROPERTIES ENVIRONMENT "ZEROWASM_LIBCUDA=${_zw_fake};ZW_FAKE_CUDA_CC=75")
endif()

set(ZEROWASM_HAVE_CUDA ON)
message(STATUS "zerowasm: CUDA backend enabled (${_zw_build_info})")

# The CPU-emulated CUDA driver and the driver-failure test that uses it.
# Included by tests/cpp/CMakeLists.txt (ZEROWASM_BUILD_TESTS=ON) when the CUDA
# backend is built.
#
#   zw_fake_cuda      libzw_fake_cuda.so: a stand-in libcuda.so.1 that runs the
#                     real kernel sources on CPU threads. ZEROWASM_LIBCUDA=<it>
#                     puts the real CUDA backend on it: tests/test_op_suites.py
#                     runs the op suite that way (op results are checked there,
#                     against the numpy float64 reference).
#   zw_cuda_emu_test  what only the driver's side can show: registration and
#                     its failures, growth, launch/sync errors, teardown order,
#                     managed memory, a missing or unusable driver.

set(_zw_emu_dir ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(_zw_emu_csrc ${_zw_emu_dir}/../../.. ABSOLUTE)

find_package(Threads REQUIRED)
add_library(zw_fake_cuda SHARED ${_zw_emu_dir}/fake_libcuda.cpp ${_zw_emu_dir}/cuda_emulation.cpp)
target_include_directories(zw_fake_cuda PRIVATE ${_zw_emu_csrc} ${_zw_emu_csrc}/include)
target_compile_features(zw_fake_cuda PRIVATE cxx_std_20)
target_compile_options(zw_fake_cuda PRIVATE -Wall -Wextra)
target_link_libraries(zw_fake_cuda PRIVATE Threads::Threads)

# The bench hooks (not in the library) are built in, to run them on the fake driver.
add_executable(zw_cuda_emu_test ${_zw_emu_dir}/cuda_emu_test.cpp ${ZEROWASM_CUDA_BENCH_SOURCES})
target_include_directories(zw_cuda_emu_test PRIVATE ${_zw_emu_csrc})
target_compile_options(zw_cuda_emu_test PRIVATE -Wall -Wextra -Werror)
target_link_libraries(zw_cuda_emu_test PRIVATE zerowasm)
add_dependencies(zw_cuda_emu_test zw_fake_cuda)

set(_zw_fake $<TARGET_FILE:zw_fake_cuda>)
function(_zw_emu_test name mode)  # ARGN: the test's environment
  add_test(NAME ${name} COMMAND zw_cuda_emu_test ${mode})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${ARGN}")
endfunction()
_zw_emu_test(cuda_emu_driver driver ZEROWASM_LIBCUDA=${_zw_fake})
_zw_emu_test(cuda_emu_driver_no_shared_address driver ZEROWASM_LIBCUDA=${_zw_fake} ZW_FAKE_CUDA_HOST_PTR=0)
_zw_emu_test(cuda_emu_missing_driver missing ZEROWASM_LIBCUDA=/nonexistent/libcuda.so.1)
_zw_emu_test(cuda_emu_init_error init-error ZEROWASM_LIBCUDA=${_zw_fake} ZW_FAKE_CUDA_INIT_ERROR=100)
_zw_emu_test(cuda_emu_old_gpu old-gpu ZEROWASM_LIBCUDA=${_zw_fake} ZW_FAKE_CUDA_CC=75)

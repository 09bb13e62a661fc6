# CPU backend sources, for the top-level CMakeLists.txt:
#   include(csrc/backend/cpu/sources.cmake)
#   target_sources(zerowasm PRIVATE ${ZEROWASM_CPU_SOURCES})
# Needs: csrc/ on the include path (kernels/kernel_math.h, ops/, backend/),
# Threads (the worker pool). No other libraries; no -march flags: AVX2
# kernels are selected at run time (gemm_x86.cpp target attributes, and
# ZW_MULTIVERSION target_clones in the elementwise/row files).
set(ZEROWASM_CPU_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/cpu_backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/thread_pool.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gemm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gemm_x86.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gemv_x86.cpp
  ${CMAKE_CURRENT_LIST_DIR}/elementwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/row_ops.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rope.cpp
  ${CMAKE_CURRENT_LIST_DIR}/attention.cpp
  ${CMAKE_CURRENT_LIST_DIR}/attention_x86.cpp
)

# Vectorize the plain loops at any optimization level above -O0 (GCC's -O2
# cost model skips most of them), and let float selects become vector blends:
# -fno-trapping-math only gives up FP-exception flag fidelity, never values.
# Clang vectorizes these at -O2 and ignores FP traps by default.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set_source_files_properties(${ZEROWASM_CPU_SOURCES} PROPERTIES
    COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-ftree-vectorize;-fvect-cost-model=dynamic;-fno-trapping-math>")
endif()

set(ZEROWASM_CPU_LINK_LIBRARIES Threads::Threads)

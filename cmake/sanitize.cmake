# Sanitizer and fuzzer builds (scripts/sanitize.sh, scripts/fuzz.sh).
#   -DZEROWASM_SANITIZE=address,undefined   every target built with those sanitizers
#   -DZEROWASM_FUZZ=ON                       libFuzzer harnesses in tests/fuzz (clang only)
# Included before any target is defined, so the flags reach every object.
set(ZEROWASM_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list (e.g. address,undefined); empty: off")
option(ZEROWASM_FUZZ "Build the libFuzzer harnesses in tests/fuzz (needs clang)" OFF)

if(ZEROWASM_SANITIZE)
  # UBSan findings abort (no recover) so a test or fuzz run cannot pass over them.
  add_compile_options(-fsanitize=${ZEROWASM_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${ZEROWASM_SANITIZE})
endif()

if(ZEROWASM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ZEROWASM_FUZZ needs clang (-fsanitize=fuzzer); configure with CMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage instrumentation for everything; only harnesses link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

function(zerowasm_add_fuzzers)
  if(NOT ZEROWASM_FUZZ)
    return()
  endif()
  add_executable(fuzz_ops ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/fuzz_ops.cpp)
  target_include_directories(fuzz_ops PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc)
  target_link_libraries(fuzz_ops PRIVATE zerowasm)
  target_link_options(fuzz_ops PRIVATE -fsanitize=fuzzer)
endfunction()

# CTest script: the string compiled into the library is exactly the combined
# shader source, it needs no include file of ours, and the shared math
# travels with it.
#   cmake -DDUMP=<embedded_dump exe> -DCOMBINED=<.metal> -DOUT=<file> -P check_embedded.cmake
execute_process(COMMAND "${DUMP}" "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${DUMP} failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${OUT}" "${COMBINED}" RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  message(FATAL_ERROR "the embedded kSource differs from ${COMBINED}")
endif()
file(READ "${COMBINED}" text)
if(text MATCHES "#include \"")
  message(FATAL_ERROR "${COMBINED} still has a quoted #include: newLibraryWithSource cannot resolve it")
endif()
foreach(header kernel_math.h zw_metal_params.h)
  if(NOT text MATCHES "// ---- begin ${header} ----")
    message(FATAL_ERROR "${header} is not inlined into ${COMBINED}")
  endif()
endforeach()

# Script mode: fails listing every C++/CUDA source under SOURCE_DIR that clang-format would change.
file(GLOB_RECURSE sources
  ${SOURCE_DIR}/backends/*.h ${SOURCE_DIR}/backends/*.cc ${SOURCE_DIR}/backends/*.cu
  ${SOURCE_DIR}/config/*.h ${SOURCE_DIR}/config/*.cc
  ${SOURCE_DIR}/engine/*.h ${SOURCE_DIR}/engine/*.cc
  ${SOURCE_DIR}/models/*.h ${SOURCE_DIR}/models/*.cc
  ${SOURCE_DIR}/server/*.h ${SOURCE_DIR}/server/*.cc
  ${SOURCE_DIR}/tokenizers/*.h ${SOURCE_DIR}/tokenizers/*.cc
  ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/tests/*.cc
  ${SOURCE_DIR}/bench/*.h ${SOURCE_DIR}/bench/*.cc
  ${SOURCE_DIR}/examples/*.h ${SOURCE_DIR}/examples/*.cc)
set(unformatted "")
foreach(source ${sources})
  execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${source}
                  RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
  if(NOT result EQUAL 0)
    list(APPEND unformatted ${source})
  endif()
endforeach()
if(unformatted)
  string(REPLACE ";" "\n  " listing "${unformatted}")
  message(FATAL_ERROR "not clang-formatted (run `make format`):\n  ${listing}")
endif()
list(LENGTH sources count)
message(STATUS "${count} files clang-formatted")

# Regenerates the SAS vectors with the official SDKs and fails when they differ from the
# committed file (without printing either: the vectors hold made-up keys, but still keys).
execute_process(COMMAND ${NODE} ${SCRIPT} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "generate_vectors.js failed (${result}): run scripts/bootstrap")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUTPUT} ${EXPECTED}
                RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  message(FATAL_ERROR "the SDKs now produce different SAS vectors than ${EXPECTED}; "
                      "regenerate it with: node tests/conformance/sas/generate_vectors.js > "
                      "tests/conformance/sas/sas_vectors.json, then check the C++ unit tests")
endif()
message(STATUS "the committed SAS vectors match the official SDKs' output")

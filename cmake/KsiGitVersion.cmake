# The git hash goes into provenance attributes and benchmark JSON.
find_package(Git QUIET)
set(KSI_GIT_HASH "unknown")
if(GIT_FOUND AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
                  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
                  OUTPUT_VARIABLE KSI_GIT_HASH OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _ksi_git_result)
  if(NOT _ksi_git_result EQUAL 0 OR KSI_GIT_HASH STREQUAL "")
    set(KSI_GIT_HASH "unknown")
  endif()
endif()

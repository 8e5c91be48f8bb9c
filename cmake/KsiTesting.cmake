# ksi_add_test(<name> SOURCES <files...> [RANKS <n...>] [LABELS <labels...>] [TIMEOUT <s>])
#
# Builds one GoogleTest executable linked to libksi and the MPI-aware test main, and registers it with
# CTest once per rank count (as <name>.np<n>). Open MPI refuses to run as root unless told, and the test
# machines have fewer cores than the largest rank count, hence the environment and --oversubscribe.
# Processes are not bound to cores: ctest -j runs tests side by side, and two one-rank jobs bound
# to the same first core would share it.
set(KSI_TEST_ENVIRONMENT
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_hwloc_base_binding_policy=none;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")

#
# MPI_FILTER <gtest filter>: the tests run at the rank counts above 1 (those that use several ranks;
# the others would repeat their one-rank run).
function(ksi_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;MPI_FILTER" "SOURCES;RANKS;LABELS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ksi::ksi ksi_test_main GTest::gtest)
  foreach(np IN LISTS ARG_RANKS)
    if(np GREATER KSI_MPIEXEC_MAX_RANKS)
      continue()
    endif()
    set(filter)
    if(ARG_MPI_FILTER AND np GREATER 1)
      set(filter "--gtest_filter=${ARG_MPI_FILTER}")
    endif()
    add_test(NAME ${name}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS} ${filter})
    set_tests_properties(${name}.np${np} PROPERTIES
                         ENVIRONMENT "${KSI_TEST_ENVIRONMENT}"
                         TIMEOUT ${ARG_TIMEOUT}
                         PROCESSORS ${np}
                         LABELS "${ARG_LABELS};np${np}")
  endforeach()
endfunction()

# ksi_add_script_test(<name> <script> [LABELS ...] [TIMEOUT s] [PROCESSORS n]): a shell test given
# the ksi binary, the source tree and a scratch folder. PROCESSORS (default 2) is what ctest -j
# reserves for it: 1 for scripts whose commands mostly run on one rank (they then run beside
# another test), 2 for those that run ranks throughout or time signals against a run.
function(ksi_add_script_test name script)
  cmake_parse_arguments(ARG "" "TIMEOUT;PROCESSORS" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  if(NOT ARG_PROCESSORS)
    set(ARG_PROCESSORS 2)
  endif()
  add_test(NAME ${name}
           COMMAND bash ${script} $<TARGET_FILE:ksi_exe> ${PROJECT_SOURCE_DIR}
                   ${CMAKE_CURRENT_BINARY_DIR}/${name}.work)
  set_tests_properties(${name} PROPERTIES
                       ENVIRONMENT "${KSI_TEST_ENVIRONMENT};MPIEXEC=${MPIEXEC_EXECUTABLE}"
                       TIMEOUT ${ARG_TIMEOUT} PROCESSORS ${ARG_PROCESSORS} LABELS "${ARG_LABELS}")
endfunction()

# Uses tests/consumer as an outside project would: through add_subdirectory (whose
# `cmake --install` installs the consumer alone, not tapestry's files) and through
# find_package after installing tapestry with the README's one-line install on a
# machine without the test dependencies, with and without the io component.
# Called by CTest with SOURCE_DIR, WORK_DIR, COMPILER, GENERATOR and WITH_MPI (MPI found).

include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/RunChecked.cmake)

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer "${SOURCE_DIR}/tests/consumer")
set(common -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${COMPILER} -DCMAKE_BUILD_TYPE=Release)
# A machine without Catch2 and Google Benchmark: the install must not need them.
set(no_test_dependencies -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)

# 1. add_subdirectory; the consumer's install holds the consumer and nothing of tapestry
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/subdirectory" ${common} -DTAPESTRY_SOURCE_DIR=${SOURCE_DIR}
    -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/subdirectory-prefix)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/subdirectory")
run("${WORK_DIR}/subdirectory/consumer")
run(${CMAKE_COMMAND} --install "${WORK_DIR}/subdirectory")
file(GLOB_RECURSE installed RELATIVE "${WORK_DIR}/subdirectory-prefix" "${WORK_DIR}/subdirectory-prefix/*")
if(NOT installed STREQUAL "bin/consumer")
    message(FATAL_ERROR "add_subdirectory: the consumer's install also installed: ${installed}")
endif()

# 2. the README's install, then find_package with the io component
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/library" ${common} ${no_test_dependencies}
    -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install "${WORK_DIR}/library")
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package-core" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    "-DTAPESTRY_COMPONENTS=io" -DEXPECT_THREADS=1)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/package")
run("${WORK_DIR}/package/consumer")
# With MPI: the mpi component (the program runs as MPI's singleton, without mpirun).
if(WITH_MPI)
    run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package-mpi" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
        "-DTAPESTRY_COMPONENTS=io;mpi")
    run(${CMAKE_COMMAND} --build "${WORK_DIR}/package-mpi")
    run("${WORK_DIR}/package-mpi/consumer")
endif()
# A consumer without OpenMP still finds the package (built with it), and runs on one thread.
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package-one-thread" ${common}
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON -DEXPECT_THREADS=0)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/package-one-thread")
run("${WORK_DIR}/package-one-thread/consumer")

# 3. components that cannot be had fail find_package, naming why
function(expect_failure what expected)
    execute_process(COMMAND ${CMAKE_COMMAND} ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output
                    ERROR_VARIABLE output)
    if(result EQUAL 0 OR NOT output MATCHES "${expected}")
        message(FATAL_ERROR "${what}: expected a failure saying \"${expected}\", got (${result}):\n${output}")
    endif()
endfunction()
expect_failure("an unknown component" "nonsense" -S "${consumer}" -B "${WORK_DIR}/unknown" ${common}
               -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix "-DTAPESTRY_COMPONENTS=nonsense")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/library-without-io" ${common} ${no_test_dependencies}
    -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
    -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix-without-io)
run(${CMAKE_COMMAND} --install "${WORK_DIR}/library-without-io")
expect_failure("io from an install without it" "component io.*nlohmann_json" -S "${consumer}"
               -B "${WORK_DIR}/package-without-io" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix-without-io
               "-DTAPESTRY_COMPONENTS=io")
expect_failure("mpi from an install without it" "component mpi.*installed without it" -S "${consumer}"
               -B "${WORK_DIR}/package-without-mpi" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix-without-io
               "-DTAPESTRY_COMPONENTS=mpi")
message(STATUS "the consumer builds and runs through add_subdirectory and through find_package [COMPONENTS io mpi]")

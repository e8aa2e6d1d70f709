# Builds and runs tests/consumer twice: once with tapestry pulled in by
# add_subdirectory, once through find_package after installing it to a prefix.
# Called by CTest with SOURCE_DIR, WORK_DIR, COMPILER and GENERATOR.

include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/RunChecked.cmake)

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer "${SOURCE_DIR}/tests/consumer")
set(common -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${COMPILER} -DCMAKE_BUILD_TYPE=Release)

# 1. add_subdirectory
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/subdirectory" ${common} -DTAPESTRY_SOURCE_DIR=${SOURCE_DIR})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/subdirectory")
run("${WORK_DIR}/subdirectory/consumer")

# 2. install, then find_package
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/library" ${common}
    -DTAPESTRY_BUILD_TESTS=OFF -DTAPESTRY_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install "${WORK_DIR}/library")
run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package" ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/package")
run("${WORK_DIR}/package/consumer")
message(STATUS "the consumer builds and runs through add_subdirectory and through find_package")

# Checks that one header compiles on its own: a file that includes only it passes
# `-fsyntax-only` with warnings as errors. Called by CTest with COMPILER, HEADER (the
# path under include/, e.g. tapestry/ops/concat.hpp), INCLUDES (a list: ours first) and WORK_DIR.

file(MAKE_DIRECTORY "${WORK_DIR}")
string(MAKE_C_IDENTIFIER "${HEADER}" stem)
set(source "${WORK_DIR}/${stem}.cpp")
file(WRITE "${source}" "#include \"${HEADER}\"\n")

set(flags -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror)
# The first folder is ours; the others (Eigen, nlohmann-json, MPI) are other people's
# headers, whose warnings are not ours to fix, as the targets' imported includes are.
list(POP_FRONT INCLUDES own)
list(APPEND flags "-I${own}")
foreach(dir IN LISTS INCLUDES)
    list(APPEND flags -isystem "${dir}")
endforeach()
execute_process(COMMAND "${COMPILER}" ${flags} "${source}" RESULT_VARIABLE result ERROR_VARIABLE output
                OUTPUT_VARIABLE output)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${HEADER} does not compile on its own:\n${output}")
endif()

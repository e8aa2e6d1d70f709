# Checks one compile-fail snippet:
#  1. with -DTAPESTRY_CONTROL it compiles (so the snippet is otherwise correct);
#  2. without it, it does not compile, and the compiler's first error line matches
#     the regular expression on the snippet's `// expect:` line.
# Called by CTest with COMPILER, SOURCE and INCLUDES (a list).

file(STRINGS "${SOURCE}" expect_line REGEX "^// expect: ")
string(REGEX REPLACE "^// expect: " "" expect "${expect_line}")
if(expect STREQUAL "")
    message(FATAL_ERROR "${SOURCE} has no '// expect: <regex>' line")
endif()

set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
    list(APPEND flags "-I${dir}")
endforeach()

execute_process(COMMAND "${COMPILER}" ${flags} -DTAPESTRY_CONTROL "${SOURCE}"
    RESULT_VARIABLE control_result ERROR_VARIABLE control_output OUTPUT_VARIABLE control_output)
if(NOT control_result EQUAL 0)
    message(FATAL_ERROR "the control variant of ${SOURCE} should compile but does not:\n${control_output}")
endif()

execute_process(COMMAND "${COMPILER}" ${flags} "${SOURCE}"
    RESULT_VARIABLE result ERROR_VARIABLE output OUTPUT_VARIABLE output)
if(result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()

string(REGEX MATCH "[^\n]*error[^\n]*" first_error "${output}")
string(REGEX MATCHALL "\n" newlines "${output}")
list(LENGTH newlines line_count)
if(NOT first_error MATCHES "${expect}")
    message(FATAL_ERROR "first error line:\n  ${first_error}\ndoes not match:\n  ${expect}\nfull output:\n${output}")
endif()
message(STATUS "first error line (${line_count} lines in all): ${first_error}")

# Runs `mpirun ... mpi_failures MODE` and checks that the job ends (never hangs: a
# timeout fails the test) with a non-zero exit code, within SECONDS, and that its
# output matches every regular expression of the list EXPECT (messages naming the failed
# rank, and the other rank saying why it stopped).
# Called by CTest with MPIRUN (a list: mpirun and its flags), PROGRAM, MODE, EXPECT, SECONDS.
cmake_policy(VERSION 3.20)

string(TIMESTAMP began "%s")
execute_process(COMMAND ${MPIRUN} ${PROGRAM} ${MODE}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output TIMEOUT 120)
string(TIMESTAMP ended "%s")
math(EXPR took "${ended} - ${began}")
message("${output}")
if(result MATCHES "timeout")
    message(FATAL_ERROR "the job still ran after 120 s: a rank hangs")
endif()
if(result EQUAL 0)
    message(FATAL_ERROR "the job exited with 0 although rank 1 failed")
endif()
if(took GREATER SECONDS)
    message(FATAL_ERROR "the job took ${took} s to stop (at most ${SECONDS} expected)")
endif()
foreach(expected IN LISTS EXPECT)
    if(NOT output MATCHES "${expected}")
        message(FATAL_ERROR "no message matching \"${expected}\" in the job's output")
    endif()
endforeach()
message("stopped after ${took} s with exit code ${result}")

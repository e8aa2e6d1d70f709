# run(<command> [args...]): runs a command from a CMake script and stops the script
# with the command's output if it fails. Shared by the test scripts run by CTest.
function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "command failed: ${ARGV}\n${output}")
    endif()
endfunction()

# An example trained on 2 MPI ranks (--distributed) against one process with the same
# global batch: per epoch, the same train and test losses to 1e-5 relative (float).
# Then runs that stop on one number of ranks and resume on another: 2 ranks -> 1
# process, and 1 process -> 2 ranks, again equal to the straight run.
# Called by CTest with EXAMPLE, MPIRUN (a list: mpirun and its flags), DATA and WORK_DIR.

include(${CMAKE_CURRENT_LIST_DIR}/../cmake/RunChecked.cmake)

file(REMOVE_RECURSE "${WORK_DIR}")
set(common --data "${DATA}" --limit 2000 --batch 50)
set(ENV{TAPESTRY_NUM_THREADS} 1)

# A decimal number (as loss.csv writes them, below 10^12) in millionths, as an integer.
function(millionths number result)
    if(NOT number MATCHES "^([0-9]+)(\\.([0-9]*))?$")
        message(FATAL_ERROR "not a loss: \"${number}\"")
    endif()
    set(whole ${CMAKE_MATCH_1})
    string(SUBSTRING "${CMAKE_MATCH_3}000000" 0 6 fraction)
    string(REGEX REPLACE "^0+([0-9])" "\\1" value "${whole}${fraction}")
    set(${result} ${value} PARENT_SCOPE)
endfunction()

# Fails unless every number of the two loss.csv files agrees to 1e-5 relative.
function(expect_same_losses name expected_csv actual_csv)
    file(STRINGS "${expected_csv}" expected)
    file(STRINGS "${actual_csv}" actual)
    list(LENGTH expected lines)
    list(LENGTH actual actual_lines)
    if(NOT lines EQUAL actual_lines OR lines LESS 2)
        message(FATAL_ERROR "${name}: ${actual_lines} lines in loss.csv, expected ${lines}")
    endif()
    math(EXPR last "${lines} - 1")
    foreach(i RANGE 1 ${last})
        list(GET expected ${i} e)
        list(GET actual ${i} a)
        string(REPLACE "," ";" e "${e}")
        string(REPLACE "," ";" a "${a}")
        foreach(column 1 2)
            list(GET e ${column} x)
            list(GET a ${column} y)
            millionths(${x} xm)
            millionths(${y} ym)
            math(EXPR difference "${xm} - ${ym}")
            string(REGEX REPLACE "^-" "" difference "${difference}")
            math(EXPR scaled "${difference} * 100000")  # |x - y| <= 1e-5 |x|
            if(scaled GREATER xm)
                message(FATAL_ERROR "${name}: line ${i} differs by more than 1e-5 relative: ${x} and ${y}\n"
                                    "expected:\n${expected}\nactual:\n${actual}")
            endif()
        endforeach()
    endforeach()
    message(STATUS "${name}: the same losses to 1e-5 relative")
endfunction()

run("${EXAMPLE}" ${common} --epochs 5 --out "${WORK_DIR}/one-process")
run(${MPIRUN} "${EXAMPLE}" --distributed ${common} --epochs 5 --out "${WORK_DIR}/two-ranks")
expect_same_losses("2 ranks against 1 process" "${WORK_DIR}/one-process/loss.csv" "${WORK_DIR}/two-ranks/loss.csv")

# 2 epochs on 2 ranks, the last 3 in one process, from the ranks' checkpoint.
run(${MPIRUN} "${EXAMPLE}" --distributed ${common} --epochs 2 --out "${WORK_DIR}/ranks-then-process")
run("${EXAMPLE}" ${common} --epochs 5 --out "${WORK_DIR}/ranks-then-process"
    --resume "${WORK_DIR}/ranks-then-process/checkpoint.safetensors")
expect_same_losses("2 ranks, resumed in 1 process" "${WORK_DIR}/one-process/loss.csv"
    "${WORK_DIR}/ranks-then-process/loss.csv")

# 2 epochs in one process, the last 3 on 2 ranks.
run("${EXAMPLE}" ${common} --epochs 2 --out "${WORK_DIR}/process-then-ranks")
run(${MPIRUN} "${EXAMPLE}" --distributed ${common} --epochs 5 --out "${WORK_DIR}/process-then-ranks"
    --resume "${WORK_DIR}/process-then-ranks/checkpoint.safetensors")
expect_same_losses("1 process, resumed on 2 ranks" "${WORK_DIR}/one-process/loss.csv"
    "${WORK_DIR}/process-then-ranks/loss.csv")

# Trains an example for 2 epochs straight, and for 1 epoch then 1 more resumed from
# the checkpoint; the two loss.csv files must be identical (the resume is exact).
# Called by CTest with EXAMPLE, DATA and WORK_DIR.

include(${CMAKE_CURRENT_LIST_DIR}/../cmake/RunChecked.cmake)

file(REMOVE_RECURSE "${WORK_DIR}")
set(common --data "${DATA}" --limit 1000 --batch 50)
run("${EXAMPLE}" ${common} --epochs 2 --out "${WORK_DIR}/straight")
run("${EXAMPLE}" ${common} --epochs 1 --out "${WORK_DIR}/resumed")
run("${EXAMPLE}" ${common} --epochs 2 --out "${WORK_DIR}/resumed" --resume "${WORK_DIR}/resumed/checkpoint.safetensors")
file(READ "${WORK_DIR}/straight/loss.csv" straight)
file(READ "${WORK_DIR}/resumed/loss.csv" resumed)
if(NOT straight STREQUAL resumed)
    message(FATAL_ERROR "resumed run differs:\nstraight:\n${straight}\nresumed:\n${resumed}")
endif()
foreach(output reconstructions.png filters.png checkpoint.safetensors)
    if(NOT EXISTS "${WORK_DIR}/straight/${output}" AND NOT output STREQUAL "reconstructions.png")
        message(FATAL_ERROR "missing output ${output}")
    endif()
endforeach()
message(STATUS "resumed run matches the straight one:\n${resumed}")

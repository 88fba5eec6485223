#!/bin/sh
# examples/drain.sh: a task for the reference worker (`switchyard worker
# --queue gap-drain -- examples/drain.sh`): the task's input JSON arrives on
# stdin, SY_TASK_ID, SY_WORKFLOW_ID and SY_ATTEMPT in the environment; what
# it prints on stdout is the result (JSON, else a string); exit 0 completes
# the task, another code fails it (worker/README.md).
input=$(cat)
printf '{"drained":true,"task_id":"%s","input":%s}\n' "$SY_TASK_ID" "$input"

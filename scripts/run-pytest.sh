#!/usr/bin/env bash
# Run pytest and fail when it collected no test.
#
#   scripts/run-pytest.sh PYTHON [PYTEST ARGS...]
#
# pytest exits 5 when nothing was collected; for us that is a broken test
# layout, never success, so it becomes a failure with a message.
set -uo pipefail
python=$1
shift
"$python" -m pytest "$@"
status=$?
if [[ $status -eq 5 ]]; then
    echo "run-pytest: pytest collected no tests in: $*" >&2
    exit 1
fi
exit $status

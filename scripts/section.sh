#!/usr/bin/env bash
# Run a command under a section header and record how long it took.
#
#   scripts/section.sh TITLE COMMAND [ARGS...]
#
# Each finished section appends "seconds<TAB>status<TAB>title" to
# $SECTION_LOG when that is set; `make test` prints the file as a summary.
set -uo pipefail
title=$1
shift
printf '\n\033[1m==== %s ====\033[0m\n' "$title"
start=$(date +%s.%N)
"$@"
status=$?
seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
if [[ $status -eq 0 ]]; then
    printf '\033[1m---- %s: ok in %ss\033[0m\n' "$title" "$seconds"
else
    printf '\033[1;31m---- %s: FAILED (exit %s) after %ss\033[0m\n' "$title" "$status" "$seconds"
fi
if [[ -n ${SECTION_LOG:-} ]]; then
    printf '%s\t%s\t%s\n' "$seconds" "$([[ $status -eq 0 ]] && echo ok || echo FAILED)" "$title" \
        >>"$SECTION_LOG"
fi
exit $status

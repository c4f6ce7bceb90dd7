#!/bin/sh
# A deterministic "agent" for tests: answers "count N" with "count N+1",
# taking N from the last "count" on its stdin (the newest message).
n=$(grep -o 'count [0-9]*' | tail -n 1 | cut -d' ' -f2)
echo "count $((n + 1))"

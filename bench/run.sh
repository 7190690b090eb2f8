#!/bin/sh
# run.sh - every benchmark bench/*.sh in turn (make bench). Benchmarks print
# their own tables; a failing one is reported and the others still run.
cd "$(dirname "$0")/.." || exit 1
rc=0
for b in bench/*.sh; do
    [ "$b" = bench/run.sh ] && continue
    echo "== $b"
    if ! bash "$b"; then
        echo "== $b: failed"
        rc=1
    fi
done
exit $rc

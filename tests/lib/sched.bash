# sched.bash - helpers for the scheduler, check and telnet suites. Load
# after lib/common:
#     load lib/common
#     load lib/sched

# A free TCP port on 127.0.0.1 (the kernel picks one; it is released at once).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# status_py EXPR: evaluate a python expression with s = the parsed status
# file ($STATUS) and j = {name: job}.
status_py() {
    python3 - "$STATUS" "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
j = {x["name"]: x for x in s["jobs"]}
v = eval(sys.argv[2])
if isinstance(v, bool):
    sys.exit(0 if v else 1)
print(v)
EOF
}

# Number of complete revisions in JOBDIR (files ID.rev with a duration).
nrevs() {
    local n=0 f
    for f in "$1"/*.rev; do
        [ -e "$f" ] || continue
        case "$f" in */last.rev) continue ;; esac
        grep -q 'duration:' "$f" && n=$((n + 1))
    done
    echo "$n"
}

nrevs_at_least() {
    [ "$(nrevs "$1")" -ge "$2" ]
}

# sched_conf FILE BASEDIR PORT WORKERS SCHEDULE-YAML JOBS-YAML
# SCHEDULE-YAML and JOBS-YAML are indented blocks (4 spaces).
sched_conf() {
    cat >"$1" <<EOF
config:
    base-dir: $2
    worker-limit: $4
    status-interval: 1s
    telnet-port: $3
    telnet-addrs: 127.0.0.1
schedules:
$5
jobs:
$6
EOF
}

# file_job NAME SCHEDULE SOURCE: a jobs: entry
file_job() {
    printf '    %s:\n        schedule: %s\n        source: {type: file, filename: %s}\n' "$1" "$2" "$3"
}

# start_sched CONFIG [ARGS...]: run the scheduler in the background, its
# output in $T/sched.out; sets SCHED_PID.
start_sched() {
    local conf=$1
    shift
    # fd 3 is bats' own: a daemon holding it would stall the suite
    "$BACKY_BIN/backy-sched" -c "$conf" -v "$@" >>"$T/sched.out" 2>&1 3>&- &
    SCHED_PID=$!
    track_pid "$SCHED_PID"
}

# launcher_pid: the scheduler's launcher, its only child process, which
# starts the backups and the telnet shell.
launcher_pid() {
    pgrep -P "$SCHED_PID" -x backy-launcher
}

# sched_child NAME: pids of the scheduler's children named NAME
# (backy-backup, backy-telnetd), which are the launcher's children.
sched_child() {
    local l
    l=$(launcher_pid) || return 1
    pgrep -P "$l" -x "$1"
}

# stop_sched: SIGTERM and wait; the exit status is in SCHED_RC.
stop_sched() {
    kill -TERM "$SCHED_PID" 2>/dev/null || true
    SCHED_RC=0
    wait "$SCHED_PID" || SCHED_RC=$?
}

# telnet_cmd PORT LINES...: send the lines (CR LF) and print the reply.
telnet_cmd() {
    local port=$1
    shift
    { for l in "$@"; do printf '%s\r\n' "$l"; done; printf 'quit\r\n'; } |
        nc -q 3 127.0.0.1 "$port"
}

# Backups started by the scheduler, from its log, and the largest number
# running at the same time (log lines are written in event order).
max_concurrent() {
    awk '/backup started/ { n++; if (n > m) m = n } /backup (finished|failed|stopped)/ { n-- }
         END { print m + 0 }' "$T/sched.out"
}

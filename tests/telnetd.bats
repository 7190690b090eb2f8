#!/usr/bin/env bats
# backy-telnetd on its own, over a status file written here, with real
# clients (nc, telnet).

load lib/common
load lib/sched

setup() {
    common_setup
    require_tool backy-telnetd
    # the shell drops to nobody when started as root: it must reach the file
    chmod 755 "$T"
    STATUS=$T/status
    write_jobs test02 test01 test03 web1 web2
    PORT=$(free_port)
}

teardown() {
    if [ -n "${TPID:-}" ]; then
        kill "$TPID" 2>/dev/null || true
        wait "$TPID" 2>/dev/null || true
    fi
    common_teardown
}

# write_jobs NAME...: a status file with these jobs (atomically replaced)
write_jobs() {
    python3 - "$STATUS" "$@" <<'EOF2'
import json, os, sys
path = sys.argv[1]
base = 1446724570   # 2015-11-05 11:56:10 UTC
jobs = [{"name": n, "schedule": "s", "sla": "OK", "sla_ok": True, "status": "waiting",
         "pid": None, "last_time": base + i, "last_tags": "daily", "last_duration": 50.7 + i,
         "next_time": base + 86400 + i, "next_tags": "daily,weekly", "min_interval": 86400,
         "last_exit": 0} for i, n in enumerate(sys.argv[2:])]
doc = {"format": 1, "scheduler": {"pid": 4242, "started": base, "written": base + 60,
       "worker_limit": 3, "workers_busy": 0, "jobs": len(jobs), "status_interval": 30,
       "config": "/etc/backy.conf"}, "jobs": jobs}
with open(path + ".tmp", "w") as f:
    json.dump(doc, f)
os.chmod(path + ".tmp", 0o644)
os.rename(path + ".tmp", path)
EOF2
}

start_telnetd() {
    "$BACKY_BIN/backy-telnetd" -s "$STATUS" -a 127.0.0.1 -p "$PORT" -v "$@" >>"$T/telnetd.out" 2>&1 3>&- &
    TPID=$!
    track_pid "$TPID"
    wait_for 10 grep -q "listening on 127.0.0.1" "$T/telnetd.out"
}

@test "telnetd: jobs prints the manual's table, sorted by job" {
    start_telnetd
    run telnet_cmd "$PORT" jobs
    assert_success
    assert_output_contains "backy-2.0 % +--------+-----+---------+-------------------------+-----------+----------+-------------------------+--------------+"
    assert_output_contains "| Job    | SLA | Status  | Last Backup             | Last Tags | Last Dur | Next Backup             | Next Tags    |"
    assert_output_contains "| test01 | OK  | waiting | 2015-11-05 11:56:11 UTC | daily     |   51.7 s | 2015-11-06 11:56:11 UTC | daily,weekly |"
    # sorted by name: test01 test02 test03 web1 web2
    order=$(grep -oE '^\| (test|web)[0-9]+' <<<"$output" | tr -d '| ' | tr '\n' ' ')
    assert_equal "$order" "test01 test02 test03 web1 web2 "
    # lines end in CR LF
    telnet_cmd "$PORT" jobs | grep -q $'Job    | SLA.*\r$'
}

@test "telnetd: jobs REGEX selects by extended regular expression" {
    start_telnetd
    run telnet_cmd "$PORT" "jobs ^web[0-9]$" "jobs test0(1|3)" "jobs nomatch" "jobs ("
    assert_success
    [ "$(grep -c '^| web' <<<"$output")" = 1 ] || [ "$(grep -c '^| web' <<<"$output")" = 2 ]
    run telnet_cmd "$PORT" "jobs ^web[0-9]$"
    assert_equal "$(grep -c '^| web' <<<"$output")" 2
    assert_output_not_contains "| test"
    run telnet_cmd "$PORT" "jobs test0(1|3)"
    assert_output_contains "| test01"
    assert_output_contains "| test03"
    assert_output_not_contains "| test02"
    run telnet_cmd "$PORT" "jobs ("
    assert_output_contains "error: bad regular expression '(':"
}

@test "telnetd: status, help, unknown commands, quit" {
    start_telnetd
    run telnet_cmd "$PORT" status help frobnicate
    assert_output_contains "scheduler pid:    4242"
    assert_output_contains "workers:          0 busy of 3"
    assert_output_contains "jobs:             5 (0 running, 0 failed, 0 with SLA too old)"
    assert_output_contains "jobs [REGEX]"
    assert_output_contains "error: unknown command 'frobnicate' (try help)"
}

@test "telnetd: a real telnet client; option negotiation is refused" {
    start_telnetd
    # the sleeps pace the input of the interactive client (it negotiates
    # first and quits at end of input), they wait for nothing
    run sh -c "{ sleep 1; printf 'jobs web2\r\n'; sleep 1; printf 'quit\r\n'; sleep 1; } | telnet 127.0.0.1 $PORT"
    assert_output_contains "Connected to 127.0.0.1"
    assert_output_contains "| web2"
    # IAC DO ECHO, IAC WILL LINEMODE, a subnegotiation: refused / skipped
    printf '\377\375\001\377\373\042\377\372\030\001hello\377\360jobs web1\r\nquit\r\n' |
        nc -q 3 127.0.0.1 "$PORT" >"$T/raw"
    grep -q '| web1' "$T/raw"
    od -An -tx1 "$T/raw" | tr -d ' \n' | grep -q 'fffc01'   # WONT ECHO
    od -An -tx1 "$T/raw" | tr -d ' \n' | grep -q 'fffe22'   # DONT LINEMODE
}

@test "telnetd: bare LF, overlong lines and binary garbage are handled" {
    start_telnetd
    long=$(head -c 5000 /dev/zero | tr '\0' x)
    { printf 'jobs web1\n'; printf '%s\r\n' "$long"; head -c 300 /dev/urandom | tr -d '\r\n\377'; printf '\r\njobs web2\r\nquit\r\n'; } |
        nc -q 3 127.0.0.1 "$PORT" >"$T/out"
    grep -q '| web1' "$T/out"
    grep -q 'error: line too long (at most 1024 bytes)' "$T/out"
    grep -q "error: unknown command" "$T/out"
    grep -q '| web2' "$T/out"
    kill -0 "$TPID"
}

@test "telnetd: re-reads the status file when it changes" {
    start_telnetd
    run telnet_cmd "$PORT" "jobs new"
    assert_output_not_contains "| newjob"
    write_jobs newjob test01
    run telnet_cmd "$PORT" jobs
    assert_output_contains "| newjob"
    assert_output_not_contains "| web1"
}

@test "telnetd: jobs and status show retries and problems" {
    python3 - "$STATUS" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
j = {x["name"]: x for x in d["jobs"]}
j["test01"].update({"failures": 2, "retry_time": 1446724690, "status": "failed",
                    "last_error": "cannot open source file: /x: No such file or directory"})
j["test02"].update({"dir_missing": True, "sla_ok": False, "sla": "TOO OLD"})
j["web1"].update({"quarantined": 1, "future": 1, "future_time": 1924992000, "incomplete": 1})
json.dump(d, open(sys.argv[1], "w"))
EOF2
    start_telnetd
    run telnet_cmd "$PORT" jobs status
    assert_output_contains "| Next Tags    | Retry                      | Problems "
    assert_output_contains "| test01 | OK      | failed  |"
    assert_output_contains "| #2 2015-11-05 11:58:10 UTC | failed: cannot open source file: /x: No such file or directory "
    assert_output_matches "\| test02 \| TOO OLD \| waiting .*\| - +\| job directory missing +\|"
    assert_output_contains "| 1 quarantined; 1 dated in the future (2031-01-01 00:00:00 UTC); 1 incomplete "
    assert_output_matches "\| web2 +\| OK .*\| - +\| - +\|"
    assert_output_contains "problems:         1 job directories missing, 1 jobs failing (retrying), 1 with quarantined, 1 with future-dated, 1 with incomplete revisions"
}

@test "telnetd: when all slots are taken, the client waiting longest for a line gives way" {
    start_telnetd -m 4
    # four idle clients that never send anything take every slot
    for i in 1 2 3 4; do
        sleep 60 | nc 127.0.0.1 "$PORT" >"$T/idle$i" 2>&1 3>&- &
        track_pid $!
        wait_for 10 sh -c "grep -c ' connected' '$T/telnetd.out' | grep -qx $i"
    done
    # a fifth is served, and the first idle one was dropped for it
    run telnet_cmd "$PORT" "jobs web1"
    assert_output_contains "| web1"
    wait_for 10 grep -q "all slots are taken and you sent no command" "$T/idle1"
    run cat "$T/idle4"
    assert_output_not_contains "all slots are taken"
    kill -0 "$TPID"
}

@test "telnetd: a client without a complete line is dropped after the line timeout" {
    start_telnetd -t 1
    sleep 60 | nc 127.0.0.1 "$PORT" >"$T/idle" 2>&1 3>&- &
    track_pid $!
    wait_for 15 grep -q "no command within the line timeout" "$T/idle"
    run telnet_cmd "$PORT" "jobs web2"
    assert_output_contains "| web2"
}

@test "telnetd: single bytes do not extend the line timeout (trickling client)" {
    start_telnetd -t 2
    # one byte every 0.3 s, never a line end: must be dropped after about 2 s
    run timeout 30 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
t0 = time.time()
try:
    while time.time() - t0 < 20:
        s.sendall(b"j")
        time.sleep(0.3)
except OSError:
    pass
s.settimeout(5)
buf = b""
try:
    while True:
        c = s.recv(4096)
        if not c:
            break
        buf += c
except OSError:
    pass
print("dropped after %.1f s" % (time.time() - t0))
print(buf.decode(errors="replace"))' "$PORT"
    assert_output_contains "no command within the line timeout"
    # dropped well before the 20 s the client would have gone on
    [[ "$output" =~ dropped\ after\ ([0-9]+) ]]
    [ "${BASH_REMATCH[1]}" -lt 10 ]
}

@test "telnetd: every connection ends after its lifetime, even a busy one" {
    start_telnetd -L 2
    run timeout 30 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
t0 = time.time()
buf = b""
try:
    while time.time() - t0 < 20:
        s.sendall(b"help\r\n")
        time.sleep(0.2)
        s.settimeout(0.05)
        try:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        except socket.timeout:
            pass
except OSError:
    pass
print("ended after %.1f s" % (time.time() - t0))
print(buf.decode(errors="replace")[-200:])' "$PORT"
    assert_output_contains "connection lifetime over"
    [[ "$output" =~ ended\ after\ ([0-9]+) ]]
    [ "${BASH_REMATCH[1]}" -lt 10 ]
}

@test "telnetd: jobs keeps answering while 1000 connections and 64 trickling clients hold on" {
    start_telnetd
    # the flood: 1000 idle connections and 64 clients sending a byte every
    # 0.5 s, all on 127.0.0.1, for at most 40 s (then it stops by itself)
    timeout 60 python3 -c '
import resource, socket, sys, threading, time
port = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
idle, trick = [], []
for i in range(1000):
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        pass
for i in range(64):
    try:
        trick.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        pass
open(sys.argv[2], "w").write("%d %d\n" % (len(idle), len(trick)))
t0 = time.time()
while time.time() - t0 < 40:
    for s in trick:
        try:
            s.send(b"x")
        except OSError:
            pass
    time.sleep(0.5)
' "$PORT" "$T/flood.ready" 3>&- &
    FLOOD=$!
    track_pid "$FLOOD"
    wait_for 60 test -s "$T/flood.ready"
    run cat "$T/flood.ready"
    assert_equal "$output" "1000 64"
    # an operator's jobs keeps being answered, ten times in a row
    for i in 1 2 3 4 5 6 7 8 9 10; do
        run timeout 10 sh -c "printf 'jobs web1\r\n' | nc -q 3 127.0.0.1 $PORT"
        assert_output_contains "| web1"
    done
    kill -0 "$TPID"
    kill "$FLOOD" 2>/dev/null || true
}

@test "telnetd: as root it runs as nobody; missing status file is reported" {
    require_root_or_skip
    rm "$STATUS"
    start_telnetd
    run grep -E '^Uid:' "/proc/$TPID/status"
    assert_output_matches "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]"
    run telnet_cmd "$PORT" jobs
    assert_output_contains "error: status file not available: $STATUS: No such file or directory"
}

@test "telnetd: bad options are refused with a clear error" {
    run "$BACKY_BIN/backy-telnetd" -p 99999
    assert_failure 1
    assert_output_contains "backy-telnetd: error: bad port: 99999"
    run "$BACKY_BIN/backy-telnetd" -a 300.1.1.1 -p "$PORT"
    assert_failure 1
    assert_output_contains "backy-telnetd: error: cannot listen on any of: 300.1.1.1"
}

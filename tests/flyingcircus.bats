#!/usr/bin/env bats
# The flyingcircus source: a snapshot request through Consul KV (a stand-in
# speaking the HTTP API subset, tests/lib/consul_standin.py) answered by a
# stand-in host agent that creates the snapshot in the real test cluster.

load lib/common
load lib/ceph

setup_file() { ceph_setup_file; }
teardown_file() { ceph_teardown_file; }

setup() {
    common_setup
    ceph_require
    require_root_or_skip
    S=$(mk_btrfs store 256M)
    J=$S/job
    IMG=fc$BATS_TEST_NUMBER
    rbd_image "$IMG" 16M
    rbd_edit "$IMG" f:1M
}

teardown() {
    common_teardown
}

# consul_start [standin options]: start the stand-in, export CONSUL_HTTP_ADDR
consul_start() {
    python3 "$BACKY_ROOT/tests/lib/consul_standin.py" "$T/consul.port" "$T/consul.log" "$@" \
        </dev/null >"$T/consul.out" 2>&1 &
    track_pid $!
    for _ in $(seq 100); do
        [ -s "$T/consul.port" ] && break
        sleep 0.05
    done
    [ -s "$T/consul.port" ] || { cat "$T/consul.out"; fail "consul stand-in did not start"; }
    export CONSUL_HTTP_ADDR=127.0.0.1:$(cat "$T/consul.port")
}

# consul_log FIELD...: the stand-in's request log as "METHOD KEY TOKEN BODY" lines
consul_log() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if "method" in e:
        print(e["method"], e["key"], e["token"], e["body"])
    else:
        print("AGENT", e["snapshot"], e["rc"])' "$T/consul.log"
}

backup() {
    run "$BACKY_BIN/backy" -v -b "$J" backup "$@" daily
}

check_last() {
    local rev
    rev=$(last_rev "$J")
    assert_equal "$(last_snap "$IMG")" "backy-$rev"
    rbd_export "$IMG@backy-$rev" "$T/export"
    assert_files_equal "$J/$rev" "$T/export"
}

@test "init flyingcircus POOL/IMAGE,VM[,TOKEN]" {
    run "$BACKY_BIN/backy" -b "$J" init flyingcircus rbd/vm1.root,vm1,s3cret
    assert_success
    run cat "$J/config"
    assert_output_contains "type: flyingcircus"
    assert_output_contains "pool: rbd"
    assert_output_contains "image: vm1.root"
    assert_output_contains "vm: vm1"
    assert_output_contains "consul_acl_token: s3cret"
    run "$BACKY_BIN/backy" -b "$S/j2" init flyingcircus rbd/vm2.root,vm2
    assert_success
    run cat "$S/j2/config"
    assert_output_not_contains "consul_acl_token"
    run "$BACKY_BIN/backy" -b "$S/j3" init flyingcircus rbd/vm3.root
    assert_failure 1
    assert_output_matches "^backy-init: error: .*POOL/IMAGE,VM"
}

@test "the VM's host creates the snapshot on request; the key is removed" {
    consul_start --token s3cret --agent "vm$BATS_TEST_NUMBER=rbd/$IMG"
    "$BACKY_BIN/backy" -b "$J" init flyingcircus "rbd/$IMG,vm$BATS_TEST_NUMBER,s3cret" >/dev/null
    backup
    assert_success
    rev=$(last_rev "$J")
    assert_output_contains "created by the host of VM vm$BATS_TEST_NUMBER"
    assert_output_not_contains "may not be consistent"
    check_last
    run consul_log
    # PUT snapshot/UUID with the token and the request, the agent's snapshot, DELETE of the same key
    assert_output_matches "^PUT snapshot/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} s3cret \{\"vm\": ?\"vm$BATS_TEST_NUMBER\", ?\"snapshot\": ?\"backy-$rev\"\}$"
    assert_output_contains "AGENT backy-$rev 0"
    key=$(awk '$1 == "PUT" { print $2 }' <<<"$output")
    assert_output_matches "^DELETE $key s3cret"

    # the next backup is a delta from the host's snapshot
    rbd_edit "$IMG" w:$((3 << 20)):4K:x
    backup
    assert_success
    assert_output_contains "changes since backy-$rev"
    check_last
    [ "$(grep -c '"method": "PUT"' "$T/consul.log")" = 2 ] || fail "expected two requests"
    [ "$(grep -c '"method": "DELETE"' "$T/consul.log")" = 2 ] || fail "expected two deletions"
}

@test "nobody answers within consul_timeout: own snapshot, a warning, the key removed" {
    consul_start
    "$BACKY_BIN/backy" -b "$J" init flyingcircus "rbd/$IMG,vm-asleep" >/dev/null
    echo "consul_timeout: 2s" >>"$J/config"
    backup
    assert_success
    assert_output_matches "WARN.*snapshot backy-[A-Za-z0-9]+ did not appear within 2 s"
    assert_output_matches "WARN.*without freezing VM vm-asleep: the revision may not be consistent"
    check_last
    run consul_log
    key=$(awk '$1 == "PUT" { print $2 }' <<<"$output")
    [ -n "$key" ] || fail "no PUT"
    assert_output_matches "^DELETE $key"
    assert_output_not_contains "AGENT"
}

@test "Consul refuses the token or is unreachable: own snapshot with a warning" {
    consul_start --token right
    "$BACKY_BIN/backy" -b "$J" init flyingcircus "rbd/$IMG,vm1,wrong" >/dev/null
    backup
    assert_success
    assert_output_contains "permission denied (HTTP 403"
    assert_output_contains "may not be consistent"
    assert_output_not_contains "did not appear"
    check_last
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    CONSUL_HTTP_ADDR=http://127.0.0.1:$port backup
    assert_success
    assert_output_contains "cannot ask the host of VM vm1 for a snapshot"
    check_last
}

@test "the Consul ACL token never appears in output or log, with -v, on success and on refusal" {
    local tok=tok-$RANDOM-s3cret
    consul_start --token "$tok" --agent "vm$BATS_TEST_NUMBER=rbd/$IMG"
    "$BACKY_BIN/backy" -b "$J" init flyingcircus "rbd/$IMG,vm$BATS_TEST_NUMBER,$tok" >/dev/null
    run "$BACKY_BIN/backy" -v -l "$T/backup.log" -b "$J" backup daily
    assert_success
    assert_output_not_contains "$tok"
    grep -q "created by the host of VM" "$T/backup.log" || fail "no log of the backup"
    ! grep -qF "$tok" "$T/backup.log" || fail "token in the log: $(grep -F "$tok" "$T/backup.log")"
    # the token reached Consul: the check above could have failed
    consul_log | grep -qF " $tok " || fail "token not sent"
    # refused (a token Consul does not know): the error names neither
    sed -i "s/$tok/wrong-$tok/" "$J/config"
    run "$BACKY_BIN/backy" -v -l "$T/backup.log" -b "$J" backup daily
    assert_success
    grep -q "permission denied (HTTP 403" "$T/backup.log" || fail "no 403 in the log"
    ! grep -qF "$tok" "$T/backup.log" || fail "token in the log: $(grep -F "$tok" "$T/backup.log")"
    assert_output_not_contains "$tok"
}

@test "a bad consul_timeout is a config error" {
    "$BACKY_BIN/backy" -b "$J" init flyingcircus "rbd/$IMG,vm1" >/dev/null
    echo "consul_timeout: soon" >>"$J/config"
    before=$(dir_sums "$J")
    backup
    assert_failure 1
    assert_output_matches "^backy-backup: error: .*consul_timeout"
    assert_equal "$(dir_sums "$J")" "$before"
    assert_equal "$(rbd_snaps "$IMG" | grep -c '^backy-' || true)" 0
}

#!/usr/bin/env bats
# backy push over a real ssh connection to 127.0.0.1: each test starts its
# own sshd (on a free port, with a host key and a client key made for the
# test, listening on 127.0.0.1 only) and stops it. BACKY_SSH points ssh at
# it; BACKY_REMOTE_BACKY names the backy of this build on the "remote" side.

load lib/common
load lib/replication
load lib/sshd

setup() {
    common_setup
    is_root || skip "needs root for loop devices and sshd"
    start_test_sshd
}

teardown() {
    stop_test_sshd
    common_teardown
}

@test "push over ssh to 127.0.0.1: the target is created, revisions arrive equal, incremental after the first" {
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 32M
    r1=$(last_rev "$a/job")
    n=$(another_rev "$a/job" "$T/src" daily,weekly)
    r2=$(last_rev "$a/job")
    # a target path with a space and a quote goes through the remote shell intact
    dst="$b/copies/it's vm1"
    run backy -b "$a/job" push "root@127.0.0.1:$dst"
    assert_success
    assert_output_contains "sending revision $r1 (whole)"
    assert_output_contains "sending revision $r2 against $r1"
    assert_output_contains "against $r1: $n blocks written"
    assert_same_revs "$a/job" "$dst" "$r1" "$r2"
    grep -q "^origin: .*:$a/job" "$dst/config"
    changed=$((n * 65536))
    excl=$(btrfs_exclusive "$dst/$r2")
    assert_le "$excl" $((changed * 105 / 100)) "exclusive bytes of the pushed increment"
}

@test "push over ssh twice: the second one only asks; a new revision goes as an increment" {
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    assert_success
    before=$(dir_sums "$b/job")
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    assert_success
    assert_output_contains "nothing to send"
    assert_output_not_contains "sending"
    assert_equal "$(dir_sums "$b/job")" "$before"
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    assert_success
    assert_output_contains "sending revision $r2 against $r1"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    # the shared ssh connection is stopped and its directory removed
    TMPDIR=$T run backy -b "$a/job" push "127.0.0.1:$b/job"
    assert_success
    [ -z "$(ls -d "$T"/backy-push.* 2>/dev/null)" ]
    ! pgrep -f "ControlPath=$T/backy-push" >/dev/null
}

@test "push over ssh: a refused connection or a missing remote backy fails with one line and sends nothing" {
    a=$(mk_btrfs a 256M)
    src_job "$a/job" "$T/src" 4M
    BACKY_REMOTE_BACKY=/nonexistent/backy run backy -b "$a/job" push "127.0.0.1:$T/dst"
    assert_failure
    assert_output_contains "backy-push: error: cannot ask 127.0.0.1:$T/dst which revisions it holds"
    assert_file_missing "$T/dst"
    BACKY_SSH="ssh -p $(free_tcp_port) -o BatchMode=yes -o ConnectTimeout=5" run backy -b "$a/job" push "127.0.0.1:$T/dst"
    assert_failure
    assert_output_contains "cannot ask"
}

@test "a push killed during the transfer is completed by the next push" {
    a=$(mk_btrfs a 512M)
    b=$(mk_btrfs b 512M)
    src_job "$a/job" "$T/src" 128M
    r1=$(last_rev "$a/job")
    backy -b "$a/job" push "127.0.0.1:$b/job" >"$T/push.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
        [ -e "$b/job/$r1.rev" ] && break
        sleep 0.05
    done
    # the receive on the far side dies; the sender sees the stream end
    rpid=$(pgrep -f "backy-receive -b $b/job" | head -1) || true
    [ -n "$rpid" ] && kill -9 "$rpid"
    wait "$pid" || true
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    assert_success
    assert_same_revs "$a/job" "$b/job" "$r1"
}

@test "a key restricted by the forced command of doc/replication.md may only receive into its base directory" {
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 8M
    r1=$(last_rev "$a/job")
    mkdir -p "$b/base"
    echo "command=\"$BACKY_ROOT/sh/backy-receive-only $b/base $BACKY_BIN/backy\",restrict $(cat "$S/clientkey.pub")" >"$S/authorized_keys"
    run backy -b "$a/job" push "127.0.0.1:$b/base/vm1"
    assert_success
    assert_output_not_contains "did not answer a receive session"
    assert_same_revs "$a/job" "$b/base/vm1" "$r1"
    # the same again: only the query
    run backy -b "$a/job" push "127.0.0.1:$b/base/vm1"
    assert_success
    assert_output_contains "nothing to send"
    # outside the base directory, through .., or any other command: refused
    run backy -b "$a/job" push "127.0.0.1:$b/elsewhere"
    assert_failure
    assert_output_contains "job directory not under $b/base"
    run backy -b "$a/job" push "127.0.0.1:$b/base/../elsewhere"
    assert_failure
    assert_file_missing "$b/elsewhere"
    # shellcheck disable=SC2086
    run $BACKY_SSH 127.0.0.1 "touch $T/owned"
    assert_failure
    assert_file_missing "$T/owned"
    # shellcheck disable=SC2086
    run $BACKY_SSH 127.0.0.1 "backy -b $b/base/vm1 restore $T/owned"
    assert_failure
    assert_output_contains "action not allowed: restore"
    assert_file_missing "$T/owned"
}

# count_ssh: BACKY_SSH becomes a wrapper that names each of its runs on
# stderr (it runs inside backy-push's Landlock domain, which lets it write
# no file); ssh_runs: those lines of the last run's output, in $T/ssh.count
count_ssh() {
    cat >"$T/ssh-count" <<EOW
#!/bin/sh
echo "ssh-run: \$*" >&2
exec $BACKY_SSH "\$@"
EOW
    chmod +x "$T/ssh-count"
    export BACKY_SSH="$T/ssh-count"
}
ssh_runs() {
    grep '^ssh-run: ' <<<"$output" >"$T/ssh.count" || true
}

@test "a push makes exactly one ssh connection: one receive session answers the query and takes every revision" {
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    count_ssh
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    ssh_runs
    assert_success
    assert_output_contains "sending revision $r2 against $r1"
    assert_output_not_contains "did not answer a receive session"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    assert_equal "$(wc -l <"$T/ssh.count")" 1
    grep -q "receive '--origin' '.*' '--session'\$" "$T/ssh.count"
    # nothing to send: still one connection, nothing changes over there
    before=$(dir_sums "$b/job")
    run backy -b "$a/job" push "127.0.0.1:$b/job"
    ssh_runs
    assert_success
    assert_output_contains "nothing to send"
    assert_equal "$(wc -l <"$T/ssh.count")" 1
    assert_equal "$(dir_sums "$b/job")" "$before"
    # no shared-connection directory is left
    another_rev "$a/job" "$T/src" daily >/dev/null
    TMPDIR=$T run backy -b "$a/job" push "127.0.0.1:$b/job"
    ssh_runs
    assert_success
    assert_equal "$(wc -l <"$T/ssh.count")" 1
    [ -z "$(ls -d "$T"/backy-push.* 2>/dev/null)" ]
}

@test "an other side without receive sessions (a forced command that refuses them): push asks and receives separately over one shared connection" {
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 8M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    cat >"$T/nosession" <<'EOS'
#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
*--session*) echo "backy-receive: unrecognized option '--session'" >&2; exit 1 ;;
esac
exec sh -c "$SSH_ORIGINAL_COMMAND"
EOS
    chmod +x "$T/nosession"
    echo "command=\"$T/nosession\",restrict $(cat "$S/clientkey.pub")" >"$S/authorized_keys"
    count_ssh
    TMPDIR=$T run backy -b "$a/job" push "127.0.0.1:$b/job"
    ssh_runs
    assert_success
    assert_output_contains "did not answer a receive session (exit status 1"
    assert_output_contains "sending revision $r2 against $r1"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    # the session, the query, a receive per revision; then ssh -O exit
    # (its stderr goes to /dev/null: no line here) stopped the master
    assert_equal "$(grep -c -- "--session" "$T/ssh.count")" 1
    assert_equal "$(grep -c "revisions '--json'" "$T/ssh.count")" 1
    assert_equal "$(grep -c "receive '--origin' '[^']*'\$" "$T/ssh.count")" 2
    [ -z "$(ls -d "$T"/backy-push.* 2>/dev/null)" ]
    ! pgrep -f "ControlPath=$T/backy-push" >/dev/null
}

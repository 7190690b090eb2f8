# sshd.bash - a real sshd on 127.0.0.1 for the push suites.
#
# start_test_sshd: starts /usr/sbin/sshd on a free port of 127.0.0.1 with a
# host key and a client key made for the test (in $T/ssh, as $S), and
# exports BACKY_SSH (ssh with that key, port and known_hosts, batch mode)
# and BACKY_REMOTE_BACKY (the backy of this build on the "remote" side).
# stop_test_sshd: stops it (call from teardown).

free_tcp_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_test_sshd() {
    [ -x /usr/sbin/sshd ] || fail "openssh-server is not installed (sh/deps.sh)"
    S=$T/ssh
    mkdir -p "$S" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey"
    ssh-keygen -q -t ed25519 -N '' -f "$S/clientkey"
    cp "$S/clientkey.pub" "$S/authorized_keys"
    chmod 600 "$S/authorized_keys"
    PORT=$(free_tcp_port)
    cat >"$S/sshd_config" <<EOC
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/hostkey
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
EOC
    /usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
    sshd_started() { [ -s "$S/sshd.pid" ]; }
    wait_for 10 sshd_started
    track_pid "$(cat "$S/sshd.pid")"
    echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$S/hostkey.pub")" >"$S/known_hosts"
    export BACKY_SSH="ssh -p $PORT -i $S/clientkey -o BatchMode=yes -o UserKnownHostsFile=$S/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
    export BACKY_REMOTE_BACKY=$BACKY_BIN/backy
}

stop_test_sshd() {
    if [ -s "${S:-/nonexistent}/sshd.pid" ]; then
        kill "$(cat "$S/sshd.pid")" 2>/dev/null || true
    fi
}

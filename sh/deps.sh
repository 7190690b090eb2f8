#!/bin/sh
# Installs what backy needs to build and test on Debian 12 (run as root).
# Idempotent: installs only the packages that are missing.
set -eu
# clang-tidy, clang-tools (scan-build), cppcheck: make lint, part of make
# check; perl: scan-build is Perl (clang-tools does not depend on it)
PKGS="build-essential pkg-config clang clang-tidy clang-tools cppcheck perl libyaml-dev libjansson-dev libseccomp-dev libcap-dev
 librbd-dev librados-dev libxxhash-dev libcurl4-openssl-dev
 bats btrfs-progs xfsprogs e2fsprogs util-linux fdisk
 systemd man-db logrotate mandoc lintian debhelper dpkg-dev fakeroot adduser
 ceph-mon ceph-osd ceph-common python3-rbd python3 python3-yaml
 telnet netcat-openbsd rsync procps openssh-server openssh-client jq tmux
 prometheus"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

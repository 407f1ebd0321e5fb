#!/usr/bin/env bash
# install.sh installs what rewindfs's tests and demo need from Debian's
# packages and builds bin/rewindfs. It is idempotent: run it as often as
# you like. It never starts a service: the tests start their own databases.
#
#   bash scripts/install.sh
#
# With CI=true it always runs apt-get update first, so a fresh machine
# reads the current package lists.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'install: %s\n' "$*"; }
die() {
	printf 'install: %s\n' "$*" >&2
	exit 1
}

# PACKAGES are Debian's names. util-linux, procps and psmisc bring findmnt,
# pkill and fuser, which the scripts use to find and clean up mounts;
# systemd brings systemd-analyze, which checks contrib/rewindfs@.service.
PACKAGES=(fuse3 sqlite3 postgresql postgresql-contrib mariadb-server fio util-linux procps psmisc systemd)

# POLICY is the file invoke-rc.d asks before starting a service; exit 101
# means "not now".
POLICY=/usr/sbin/policy-rc.d
POLICY_SAVED=""

installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_update() {
	local try
	for try in 1 2 3; do
		if apt-get update -q -o DPkg::Lock::Timeout=300 >/tmp/rewindfs-apt-update.log 2>&1; then
			return 0
		fi
		say "apt-get update failed (try $try of 3); last lines:"
		tail -n 5 /tmp/rewindfs-apt-update.log >&2
		sleep $((try * 5))
	done
	die "apt-get update failed 3 times: see /tmp/rewindfs-apt-update.log"
}

# deny_services puts a policy-rc.d in place that forbids every service
# start, keeping any that was there, until restore_policy puts it back.
deny_services() {
	if [[ -e "$POLICY" ]]; then
		POLICY_SAVED="$(mktemp /tmp/rewindfs-policy-rc.d.XXXXXX)"
		cp -p "$POLICY" "$POLICY_SAVED"
	fi
	trap restore_policy EXIT
	trap 'restore_policy; exit 130' INT TERM
	printf '#!/bin/sh\n# written by rewindfs scripts/install.sh for the length of one apt-get install\nexit 101\n' >"$POLICY"
	chmod 0755 "$POLICY"
	say "services may not start during the install: $POLICY exits 101"
}

restore_policy() {
	if [[ -n "$POLICY_SAVED" ]]; then
		cp -p "$POLICY_SAVED" "$POLICY"
		rm -f "$POLICY_SAVED"
		say "put back the $POLICY that was there before"
	else
		rm -f "$POLICY"
		say "removed $POLICY"
	fi
	trap - EXIT INT TERM
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 || "${CI:-}" == "true" ]]; then
	[[ $EUID -eq 0 ]] || die "need root to install ${missing[*]:-packages}: run as root, or install them with apt-get yourself"
	export DEBIAN_FRONTEND=noninteractive
	say "apt-get update"
	apt_update
fi

if [[ ${#missing[@]} -gt 0 ]]; then
	say "installing ${missing[*]}"
	deny_services
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" >/tmp/rewindfs-apt-install.log 2>&1 ||
		{
			tail -n 20 /tmp/rewindfs-apt-install.log >&2
			die "apt-get install ${missing[*]} failed: see /tmp/rewindfs-apt-install.log"
		}
	denied="$(grep -c 'policy-rc.d denied' /tmp/rewindfs-apt-install.log || true)"
	say "installed ${missing[*]} (service starts denied: ${denied}; log in /tmp/rewindfs-apt-install.log)"
	restore_policy
else
	say "Debian packages already installed: ${PACKAGES[*]}"
fi

for p in "${PACKAGES[@]}"; do
	installed "$p" || die "$p is still not installed after apt-get install"
done

# The tools the tests run, and where they are.
for tool in fusermount3 findmnt fuser pkill sqlite3 fio mariadbd mariadb-install-db; do
	command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] || die "$tool is missing although its package is installed"
done
say "FUSE: $(command -v fusermount3), device /dev/fuse $([[ -c /dev/fuse ]] && echo present || echo MISSING)"
say "SQLite: $(command -v sqlite3) $(sqlite3 --version | cut -d' ' -f1); fio: $(fio --version)"
say "MariaDB: $(command -v mariadbd || echo /usr/sbin/mariadbd), $(command -v mariadb-install-db)"

PG_BIN=/usr/lib/postgresql/15/bin
for tool in pg_ctl initdb postgres pgbench pg_amcheck; do
	[[ -x "$PG_BIN/$tool" ]] || die "PostgreSQL 15's $tool is not in $PG_BIN"
done
say "PostgreSQL 15: pg_ctl, initdb, postgres, pgbench and pg_amcheck in $PG_BIN (not on PATH; initdb will not run as root)"

# Go is at /usr/local/go on this kind of machine; it may not be on PATH.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || die "go is not installed (expected /usr/local/go/bin/go)"
say "building bin/rewindfs with $(go version | cut -d' ' -f3)"
mkdir -p bin
VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
go build -ldflags "-X main.version=$VERSION" -o bin/rewindfs ./cmd/rewindfs || die "go build ./cmd/rewindfs failed (see above)"
say "built $(pwd)/bin/rewindfs ($(bin/rewindfs --version))"

# The Linux conventions: the program in /usr/local/bin, mount(8)'s helper
# /sbin/mount.fuse.rewindfs (a link to it: `mount -t fuse.rewindfs` and
# fstab lines of type fuse.rewindfs), and the systemd unit template
# rewindfs@.service (installed, never enabled or started here), and bash
# completion.
if [[ $EUID -eq 0 ]]; then
	install -m 0755 bin/rewindfs /usr/local/bin/rewindfs.new
	mv -f /usr/local/bin/rewindfs.new /usr/local/bin/rewindfs
	ln -sfn /usr/local/bin/rewindfs /sbin/mount.fuse.rewindfs
	install -D -m 0644 'contrib/rewindfs@.service' '/etc/systemd/system/rewindfs@.service'
	install -D -m 0644 contrib/rewindfs.bash-completion /usr/share/bash-completion/completions/rewindfs
	if [[ -d /run/systemd/system ]]; then
		systemctl daemon-reload || say "systemctl daemon-reload failed; run it before using rewindfs@.service"
	fi
	say "installed /usr/local/bin/rewindfs, /sbin/mount.fuse.rewindfs -> it, /etc/systemd/system/rewindfs@.service, bash completion"
else
	say "not root: /usr/local/bin/rewindfs, /sbin/mount.fuse.rewindfs and rewindfs@.service not installed"
fi
command -v systemd-analyze >/dev/null || die "systemd-analyze is missing although systemd is installed"

# SeaweedFS's weed, the S3 server the archive tests (e2e/archive_test.go)
# run against. It is built from source once per machine and cached (about
# 16 to 24 minutes on a busy 2-core machine the first time, nothing after); the tests
# fail without it under CI=true. REWINDFS_SKIP_WEED=1 skips it (the demo
# does not need it).
if [[ "${REWINDFS_SKIP_WEED:-}" == "1" ]]; then
	say "SeaweedFS: skipped (REWINDFS_SKIP_WEED=1); the archive tests will skip, or fail under CI=true"
else
	weed="$(bash scripts/seaweedfs.sh build)" || die "building SeaweedFS's weed failed (see above)"
	say "SeaweedFS: $weed"
fi

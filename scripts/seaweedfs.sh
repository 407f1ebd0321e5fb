#!/usr/bin/env bash
# seaweedfs.sh builds, starts and stops SeaweedFS, the S3-compatible object
# store rewindfs's archive is tested against. Everything listens on
# 127.0.0.1 only, and telemetry (which reports to an outside server by
# default) is always off.
#
#   bash scripts/seaweedfs.sh build           # build weed once; prints its path
#   bash scripts/seaweedfs.sh path            # the path of the cached weed (built or not)
#   bash scripts/seaweedfs.sh start DIR       # start a server with its data in DIR; prints "export ..." lines
#   bash scripts/seaweedfs.sh stop DIR        # stop the server started in DIR
#
# weed comes from the Go module github.com/seaweedfs/seaweedfs at
# WEED_VERSION. `go install ...@version` is refused for it because its go.mod
# has a replace directive, so build makes a small tools module that requires
# it and copies its replace lines, then `go build`s the weed package there.
# The binary is cached under WEED_CACHE (default /var/cache/rewindfs as root,
# else ~/.cache/rewindfs), named after the version, so it is built once per
# machine (16 to 24 minutes from cold caches on a busy 2-core machine; see README).
#
# start picks free ports for every listener the server opens, writes an S3
# identities file with a test access key, starts `weed server -s3` in the
# background with its log in DIR/weed.log, waits until the S3 port answers,
# and prints shell lines to eval:
#
#   export WEED_S3_ENDPOINT=http://127.0.0.1:PORT
#   export AWS_ACCESS_KEY_ID=rewindfs-test AWS_SECRET_ACCESS_KEY=...
#   export WEED_PID=PID
#
# The e2e tests (e2e/archive_test.go) start the server the same way from Go.
set -euo pipefail

WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION="${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
if [[ -z "${WEED_CACHE:-}" ]]; then
	if [[ $EUID -eq 0 ]]; then
		WEED_CACHE=/var/cache/rewindfs
	else
		WEED_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/rewindfs"
	fi
fi
WEED_BIN="$WEED_CACHE/weed-$WEED_VERSION/weed"

# The test key: it only ever guards a server on 127.0.0.1 with throwaway data.
TEST_ACCESS_KEY=rewindfs-test
TEST_SECRET_KEY=rewindfs-test-secret-0123456789

say() { printf 'seaweedfs: %s\n' "$*" >&2; }
die() {
	printf 'seaweedfs: %s\n' "$*" >&2
	exit 1
}

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

build() {
	if [[ -x "$WEED_BIN" ]] && "$WEED_BIN" version >/dev/null 2>&1; then
		say "weed $WEED_VERSION already built: $WEED_BIN"
		echo "$WEED_BIN"
		return 0
	fi
	command -v go >/dev/null || die "go is not installed (expected /usr/local/go/bin/go)"
	local work start
	work="$(mktemp -d /tmp/rewindfs-weed-build.XXXXXX)"
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" RETURN
	start=$(date +%s)
	say "building weed $WEED_VERSION in a tools module (10 to 25 minutes on 2 cores)"
	(
		cd "$work"
		go mod init rewindfs-tools/weed >/dev/null 2>&1
		go mod download "$WEED_MODULE@$WEED_VERSION" >/dev/null ||
			die "go mod download $WEED_MODULE@$WEED_VERSION failed"
		local dir
		dir="$(go mod download -json "$WEED_MODULE@$WEED_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		[[ -f "$dir/go.mod" ]] || die "cannot find the downloaded module's go.mod (got dir '$dir')"
		# The go line (the weed module wants a newer Go than the default) and
		# the replace directives are what `go install` would not honour.
		local gover
		gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$dir/go.mod")"
		[[ -n "$gover" ]] && go mod edit -go="$gover"
		awk '/^replace[[:space:]]*\($/ { inblock = 1; next }
			inblock && /^\)/ { inblock = 0; next }
			inblock && NF { print "-replace=" $1 "=" $3 ($4 == "" ? "" : "@" $4); next }
			/^replace[[:space:]]/ && !/\($/ { print "-replace=" $2 "=" $4 ($5 == "" ? "" : "@" $5) }' "$dir/go.mod" |
			while IFS= read -r r; do go mod edit "$r"; done
		go get "$WEED_MODULE/weed@$WEED_VERSION" >"$work/get.log" 2>&1 ||
			{
				tail -n 20 "$work/get.log" >&2
				die "go get $WEED_MODULE/weed@$WEED_VERSION failed"
			}
		mkdir -p "$(dirname "$WEED_BIN")"
		CGO_ENABLED=0 go build -trimpath -o "$WEED_BIN.tmp" "$WEED_MODULE/weed" ||
			die "go build $WEED_MODULE/weed failed"
		mv "$WEED_BIN.tmp" "$WEED_BIN"
	)
	say "built $WEED_BIN in $(($(date +%s) - start)) s"
	echo "$WEED_BIN"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on (a
# random one from 20000 to 59999, tried until a connect to it fails).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
}

start() {
	local dir="${1:?usage: seaweedfs.sh start DIR}"
	[[ -x "$WEED_BIN" ]] || die "weed is not built: run bash scripts/seaweedfs.sh build"
	mkdir -p "$dir/data"
	dir="$(cd "$dir" && pwd)"
	local master volume filer s3 mgrpc vgrpc fgrpc sgrpc
	master=$(free_port) volume=$(free_port) filer=$(free_port) s3=$(free_port)
	mgrpc=$(free_port) vgrpc=$(free_port) fgrpc=$(free_port) sgrpc=$(free_port)
	cat >"$dir/s3.json" <<EOF
{
  "identities": [
    {
      "name": "rewindfs-test",
      "credentials": [{"accessKey": "$TEST_ACCESS_KEY", "secretKey": "$TEST_SECRET_KEY"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
	(
		cd "$dir"
		setsid "$WEED_BIN" -logtostderr server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
			-master.telemetry=false -master.volumeSizeLimitMB=64 -volume.max=100 -volume.preStopSeconds=0 \
			-master.port="$master" -master.port.grpc="$mgrpc" \
			-volume.port="$volume" -volume.port.grpc="$vgrpc" \
			-filer.port="$filer" -filer.port.grpc="$fgrpc" -filer.localSocket="$dir/filer.sock" \
			-s3 -s3.port="$s3" -s3.port.grpc="$sgrpc" -s3.port.iceberg=0 -s3.port.lance=0 \
			-s3.localSocket="$dir/s3.sock" -s3.config="$dir/s3.json" \
			</dev/null >"$dir/weed.log" 2>&1 &
		echo $! >"$dir/weed.pid"
		echo "$mgrpc $vgrpc $fgrpc $sgrpc" >"$dir/weed.grpc-ports"
	)
	local pid
	pid="$(cat "$dir/weed.pid")"
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$dir/weed.log" >&2
			die "weed server exited (log: $dir/weed.log)"
		}
		# The S3 port accepts connections once the gateway serves (writes
		# may need a few more seconds, until the volume server has joined).
		if (exec 3<>"/dev/tcp/127.0.0.1/$s3") 2>/dev/null; then
			echo "export WEED_S3_ENDPOINT=http://127.0.0.1:$s3"
			echo "export AWS_ACCESS_KEY_ID=$TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$TEST_SECRET_KEY"
			echo "export WEED_PID=$pid"
			say "weed server $pid serves S3 at http://127.0.0.1:$s3 (data and log in $dir)"
			return 0
		fi
		sleep 0.1
	done
	stop "$dir"
	die "weed server did not answer on 127.0.0.1:$s3 within 60 s (log: $dir/weed.log)"
}

stop() {
	local dir="${1:?usage: seaweedfs.sh stop DIR}"
	[[ -f "$dir/weed.pid" ]] || {
		say "no weed.pid in $dir: nothing to stop"
		return 0
	}
	local pid
	pid="$(cat "$dir/weed.pid")"
	if kill -TERM "$pid" 2>/dev/null; then
		# weed server often hangs in its shutdown; its data is throwaway.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "weed $pid still running 5 s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$dir/weed.pid"
	# weed puts its gRPC unix sockets in /tmp whatever TMPDIR says, and a
	# killed one leaves them there.
	if [[ -f "$dir/weed.grpc-ports" ]]; then
		local ports kinds=(master volume filer s3) n
		read -r -a ports <"$dir/weed.grpc-ports"
		for n in "${!ports[@]}"; do
			rm -f "/tmp/seaweedfs-${kinds[$n]}-grpc-${ports[$n]}.sock"
		done
		rm -f "$dir/weed.grpc-ports"
	fi
	say "stopped weed server $pid"
}

case "${1:-}" in
build) build ;;
path) echo "$WEED_BIN" ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: seaweedfs.sh build | path | start DIR | stop DIR" ;;
esac

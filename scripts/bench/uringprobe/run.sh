#!/usr/bin/env bash
# run.sh measures what a FUSE round trip costs over /dev/fuse (read(2) and
# writev(2), as go-fuse does it) against FUSE-over-io_uring, with the same
# trivial in-memory file system behind both. Rounds alternate dev, uring,
# dev, uring, ...; each runs the client for SECS seconds doing stat (one
# GETATTR per op) and 4 KiB pwrite+fdatasync (one WRITE and one FSYNC per
# op), with 1 and 4 client threads, and prints one CSV line per cell.
#
#   sudo scripts/bench/uringprobe/run.sh                  # 3 rounds of 10 s
#   ROUNDS=1 SECS=3 READERS=1 scripts/bench/uringprobe/run.sh
#
# Needs root and a kernel with CONFIG_FUSE_IO_URING. It sets
# /sys/module/fuse/parameters/enable_uring for the uring rounds and puts
# back what it found, also on failure or Ctrl-C. Every mount it makes is
# unmounted (the connection aborted first if a request hangs) and every
# server it starts is stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ROUNDS="${ROUNDS:-3}"
SECS="${SECS:-10}"
READERS="${READERS:-4}" # /dev/fuse reader goroutines in dev mode
PARAM=/sys/module/fuse/parameters/enable_uring
[[ $EUID -eq 0 ]] || { echo "run.sh: needs root (mount, $PARAM)" >&2; exit 1; }
[[ -w "$PARAM" ]] || { echo "run.sh: $PARAM is missing: this kernel has no FUSE-over-io_uring" >&2; exit 1; }

WORK="$(mktemp -d /tmp/uringprobe.XXXXXX)"
MNT="$WORK/mnt"
mkdir -p "$MNT"
BIN="$WORK/uringprobe"
WAS="$(cat "$PARAM")"
SPID=""

cleanup() {
	if [[ -n "$SPID" ]] && kill -0 "$SPID" 2>/dev/null; then
		kill -TERM "$SPID"
		for _ in $(seq 30); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SPID" 2>/dev/null || true
	fi
	local dev
	dev="$(awk -v m="$MNT" '$5 == m { print $3 }' /proc/self/mountinfo | head -1)"
	if [[ -n "$dev" ]]; then
		echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null || true
		umount -l "$MNT" || true
	fi
	echo "$WAS" >"$PARAM"
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

go build -o "$BIN" .

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"

echo "round,mode,op,threads,ops_per_s,mean_latency_us,server_cpu_us_per_op"
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in dev uring; do
		if [[ $mode == uring ]]; then echo Y >"$PARAM"; else echo N >"$PARAM"; fi
		"$BIN" serve -mode "$mode" -readers "$READERS" -mnt "$MNT" 2>"$WORK/serve.log" &
		SPID=$!
		for _ in $(seq 50); do grep -q " $MNT " /proc/self/mountinfo && break; sleep 0.1; done
		grep -q " $MNT " /proc/self/mountinfo || { echo "run.sh: $mode server did not mount:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
		for op in stat writesync; do
			for th in 1 4; do
				t0="$(ticks "$SPID")"
				line="$(timeout -s KILL $((SECS + 20)) "$BIN" client -dir "$MNT" -threads "$th" -secs "$SECS" -op "$op")"
				t1="$(ticks "$SPID")"
				ops="$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")"
				rate="$(sed -n 's/.*ops_per_s=\([0-9.]*\).*/\1/p' <<<"$line")"
				lat="$(sed -n 's/.*mean_lat_us=\([0-9.]*\).*/\1/p' <<<"$line")"
				cpu="$(awk -v a="$t0" -v b="$t1" -v n="$ops" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')"
				echo "$r,$mode,$op,$th,$rate,$lat,$cpu"
			done
		done
		kill -TERM "$SPID"
		for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$SPID" 2>/dev/null && { echo "run.sh: $mode server did not stop" >&2; exit 1; }
		SPID=""
		# The server prints how many requests each transport carried: in
		# uring mode all but INIT must have come through the ring, or the
		# comparison is void.
		grep COUNTS "$WORK/serve.log" >&2
		if [[ $mode == uring ]] && ! grep -q "transport=uring .*GETATTR=" "$WORK/serve.log"; then
			echo "run.sh: no request came through the ring" >&2
			exit 1
		fi
	done
done

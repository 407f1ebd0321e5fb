#!/usr/bin/env bash
# bench.sh measures what rewindfs costs a database. One command runs the same
# workloads on three targets on the same disk, alternating between them so
# that machine noise hits all three alike:
#
#   plain     a plain directory
#   fuse      a passthrough FUSE mount (go-fuse's example/loopback)
#   rewindfs  a rewindfs mount
#
# (pgbench twice: with PostgreSQL's default wal_sync_method, and with
# open_datasync on every target and rewindfs mounted --dsync-direct) and
# prints a markdown table of absolute figures and ratios to plain, then
# the rewindfs-only figures (rewind time, mount time, write amplification per
# compression setting, daemon RSS).
#
#   sudo scripts/bench.sh                      # full run (about 15 minutes)
#   BENCH_QUICK=1 scripts/bench.sh             # short run (about 4.5 minutes)
#   BENCH_ONLY=sqlite,fio scripts/bench.sh     # some workloads only
#   BENCH_OUT=bench.md scripts/bench.sh        # also write the table there
#
# Environment:
#   BENCH_QUICK=1      smaller sizes, shorter runs, one round
#   BENCH_ONLY=LIST    comma-separated subset of: pgbench,sqlite,fio,rewind,reset
#                      (reset: a test database put back after a test, rewindfs
#                      rewind against DROP/CREATE DATABASE ... TEMPLATE and
#                      against copying a SQLite file back; BENCH_ONLY=reset
#                      needs neither fio nor the loopback mount's figures)
#   BENCH_OUT=FILE     also write the result tables to FILE
#   BENCH_DIR=DIR      where targets live (default /var/tmp/rewindfs-bench.PID;
#                      must be on the disk to measure, every parent mode 0755)
#   BENCH_KEEP=1       keep BENCH_DIR (logs, volumes) afterwards; a failed or
#                      interrupted run keeps it too, for its logs
#   BENCH_ROUNDS=N     rounds of each timed run (default 2, quick 1)
#
# Needs root (drop_caches, mounts, runuser), fuse3, fio, sqlite3, jq and
# PostgreSQL 15 in /usr/lib/postgresql/15/bin. Everything it starts (FUSE
# daemons, PostgreSQL) is stopped and unmounted on exit, also on failure or
# Ctrl-C. A failed measurement shows as FAIL in the table, with its cause
# listed below it, and makes the exit status non-zero.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
HERE="$ROOT/scripts/bench"

# Messages go to fd 9, the script's own stderr, also from a trap that runs
# while a command's output is redirected to a log. Children get fd 9 closed.
exec 9>&2
say() { printf 'bench: %s\n' "$*" >&9; }
die() {
	say "$@"
	exit 1
}

# ---------------------------------------------------------------- settings

QUICK="${BENCH_QUICK:-0}"
[[ "$QUICK" == 1 ]] || QUICK=0
ONLY="${BENCH_ONLY:-pgbench,sqlite,fio,rewind,reset}"
OUT="${BENCH_OUT:-}"
[[ -z "$OUT" ]] || OUT="$(realpath -m "$OUT")"
PGBIN=/usr/lib/postgresql/15/bin
PGPORT="${BENCH_PGPORT:-54329}"

if ((QUICK)); then
	ROUNDS="${BENCH_ROUNDS:-1}"
	PG_SCALE=5 PG_SECS=10
	SQL_TXNS=500 SQL_ROWS=100000
	FIO_MB=256 FIO_SECS=10
	REWIND_SIZES="64 256" REWIND_FILE_MB=256
	MOUNT_LOG_MB=1024
else
	ROUNDS="${BENCH_ROUNDS:-2}"
	PG_SCALE=10 PG_SECS=30
	SQL_TXNS=2000 SQL_ROWS=300000
	FIO_MB=2048 FIO_RW_MB=512 FIO_SECS=20
	REWIND_SIZES="64 512" REWIND_FILE_MB=512
	MOUNT_LOG_MB=1024
fi
FIO_RW_MB="${FIO_RW_MB:-$FIO_MB}"
SQL_ROUNDS=$((ROUNDS + 1))
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number, not $ROUNDS"

want() { [[ ",$ONLY," == *",$1,"* ]]; }
for w in ${ONLY//,/ }; do
	case "$w" in
	pgbench | sqlite | fio | rewind | reset) ;;
	*) die "BENCH_ONLY: unknown workload $w (choose from pgbench,sqlite,fio,rewind,reset)" ;;
	esac
done

# ---------------------------------------------------------------- checks

[[ "$(id -u)" == 0 ]] || die "run as root: it drops caches, mounts and runs PostgreSQL as postgres"
for t in fio sqlite3 jq fusermount3 runuser findmnt go; do
	command -v "$t" >/dev/null || die "$t is missing (apt-get install -y fio sqlite3 jq fuse3; Go for the builds)"
done
if want pgbench || want reset; then
	[[ -x "$PGBIN/pgbench" ]] || die "PostgreSQL 15 is missing in $PGBIN (apt-get install -y postgresql-15)"
	id postgres >/dev/null 2>&1 || die "there is no user postgres to run PostgreSQL as"
fi
[[ -w /proc/sys/vm/drop_caches ]] || die "cannot write /proc/sys/vm/drop_caches"

WORK="$(realpath -m "${BENCH_DIR:-/var/tmp/rewindfs-bench.$$}")"
[[ "$WORK" != / ]] || die "BENCH_DIR is /"
if [[ -e "$WORK" ]]; then
	[[ -z "$(ls -A "$WORK")" ]] || die "BENCH_DIR $WORK exists and is not empty: give the benchmark a new directory"
fi
# PostgreSQL runs as postgres: it must be able to traverse every parent.
p="$(dirname "$WORK")"
while [[ "$p" != / ]]; do
	[[ -d "$p" ]] || break
	if ! (($(stat -c '0%a' "$p") & 1)); then
		die "$p is not traversable by other users (mode $(stat -c %a "$p")): choose a BENCH_DIR under 0755 directories"
	fi
	p="$(dirname "$p")"
done

# ---------------------------------------------------------------- state and cleanup

BIN="$WORK/bin"
LOGS="$WORK/logs"
PLAIN="$WORK/plain"
LO_ORIG="$WORK/fuse-orig"
LO_MNT="$WORK/fuse"
RW_MNT="$WORK/rewindfs"
RW_VOL="$WORK/rewindfs-vol"
SOCK="$WORK/pgsock"
RW="$BIN/rewindfs"

LO_PID=""
PG_DATA_DIRS=()
RW_PIDS=() # rewindfs daemons we started
RW_MOUNT_FLAGS=() # more flags for rewindfs mount (the open_datasync rounds)
FAILURES=()
CLEANED=0

CUR_PID=""
is_mounted() { findmnt -rn -M "$1" >/dev/null 2>&1; }

# run CMD...: runs a long command in the background and waits for it, so that
# a Ctrl-C or kill is acted on at once (bash defers traps while a foreground
# command runs, and skips its INT trap if that command exits normally).
run() {
	local rc=0
	"$@" 9>&- &
	CUR_PID=$!
	wait "$CUR_PID" || rc=$?
	CUR_PID=""
	return "$rc"
}
# kill_tree PID: TERM to PID and its descendants, by id.
kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
	kill -TERM "$1" 2>/dev/null || true
}

unmount_fuse() { # MNT: unmount however it takes
	local m="$1" i
	is_mounted "$m" || return 0
	for i in 1 2 3; do
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true
		is_mounted "$m" || return 0
		sleep 1
	done
	umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
}

cleanup() {
	local rc=$? d m
	((CLEANED)) && return
	CLEANED=1
	trap - EXIT INT TERM
	set +e
	if [[ -n "$CUR_PID" ]]; then
		kill_tree "$CUR_PID"
		wait "$CUR_PID" 2>/dev/null
	fi
	for d in "${PG_DATA_DIRS[@]}"; do
		[[ -f "$d/postmaster.pid" ]] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1
	done
	if is_mounted "$RW_MNT"; then
		timeout 60 "$RW" unmount "$RW_MNT" >/dev/null 2>&1 || unmount_fuse "$RW_MNT"
	fi
	# rewindfs daemons that outlived their mount: only the ones we started
	for d in "${RW_PIDS[@]}"; do
		if [[ "$(readlink "/proc/$d/exe" 2>/dev/null)" == "$RW" ]]; then
			kill "$d" 2>/dev/null
		fi
	done
	unmount_fuse "$LO_MNT"
	if [[ -n "$LO_PID" ]] && kill -0 "$LO_PID" 2>/dev/null; then
		kill "$LO_PID" 2>/dev/null
		sleep 0.5
		kill -9 "$LO_PID" 2>/dev/null
	fi
	if [[ "${BENCH_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
		say "kept $WORK (logs in $LOGS)"
	else
		# Never remove a directory a mount is still on.
		if findmnt -rn -o TARGET | grep -q "^$WORK/"; then
			say "something under $WORK is still mounted; kept it"
		else
			rm -rf -- "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

mkdir -p "$WORK" "$BIN" "$LOGS" "$PLAIN" "$LO_ORIG" "$LO_MNT" "$RW_MNT" "$SOCK"
chmod 0755 "$WORK" "$PLAIN" "$LO_ORIG" "$LO_MNT" "$RW_MNT"
chmod 1777 "$LOGS" "$SOCK"

# ---------------------------------------------------------------- results

declare -A VAL   # "key|target" -> space-separated values, one per round
declare -A ROWL  # key -> "workload|metric|unit|higher or lower"
ROWS=()          # keys in order
declare -A RWVAL # rewindfs-only key -> value
RWROWS=()

row() { # KEY WORKLOAD METRIC UNIT higher|lower
	[[ -n "${ROWL[$1]:-}" ]] || ROWS+=("$1")
	ROWL[$1]="$2|$3|$4|$5"
}
record() { VAL[$1|$2]="${VAL[$1|$2]:-} $3"; }
rwrow() { # KEY LABEL VALUE
	[[ -n "${RWVAL[$1]:-}" ]] || RWROWS+=("$1")
	RWVAL[$1]="$2|$3"
}
fail() { # WHAT DETAIL...: note a failed measurement
	local what="$1"
	shift
	FAILURES+=("$what: $*")
	say "FAILED $what: $*"
}

now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; if (NF) printf "%.6g", s / NF }' <<<"$1"; }

# ---------------------------------------------------------------- targets

TARGETS=(plain fuse rewindfs)
declare -A TDIR=([plain]="$PLAIN" [fuse]="$LO_MNT" [rewindfs]="$RW_MNT")

# rw_latency_rows FILE KEY LABEL REQUIRED: rewindfs-only rows KEY_OP from
# `rewindfs latency --json` taken during pgbench: for FSYNC, WRITE and
# SETATTR, count, p50, p90 and mean from queued to answered. An op in
# REQUIRED that is missing fails; another reads "none".
rw_latency_rows() {
	local op line
	for op in fsync write setattr; do
		if ! line="$(jq -er --arg op "$op" '.seconds as $s | .ops[] | select(.op == $op) |
			"\(.count) in \($s | floor) s: p50 \(.p50_us | floor) µs, p90 \(.p90_us | floor) µs, mean \(.mean_us | floor) µs"' "$1")"; then
			[[ " $4 " == *" $op "* ]] && return 1
			line="none"
		fi
		rwrow "$2_$op" "$3: FUSE $op requests, queued to answered (rewindfs latency)" "$line"
	done
}

# order ROUND: the targets, rotated by ROUND, so no target always goes first.
order() {
	local r=$(($1 % 3))
	echo "${TARGETS[@]:r}" "${TARGETS[@]:0:r}"
}

rw_status() { # VOL|MNT [FIELD]: one field of rewindfs status --json
	local json
	json="$(timeout 60 "$RW" status --json "$1" 2>>"$LOGS/rewindfs-cli.log")" || return 1
	if [[ $# -gt 1 ]]; then jq -er ".$2" <<<"$json"; else echo "$json"; fi
}

daemon_log_tail() { # VOL
	[[ -f "$1/daemon.log" ]] && tail -n 15 "$1/daemon.log" | sed 's/^/    /' >&2 || true
}

rw_mount() { # VOL MNT
	local err
	if ! err="$(timeout 300 "$RW" mount "$1" "$2" --allow-other "${RW_MOUNT_FLAGS[@]}" 2>&1 9>&-)"; then
		fail "rewindfs mount $1 $2" "$err"
		daemon_log_tail "$1"
		return 1
	fi
	is_mounted "$2" || {
		fail "rewindfs mount $1 $2" "returned 0 but nothing is mounted"
		daemon_log_tail "$1"
		return 1
	}
	local pid
	pid="$(rw_status "$2" pid)" && RW_PIDS+=("$pid")
	return 0
}
rw_unmount() { # MNT VOL
	local err
	is_mounted "$1" || {
		fail "rewindfs unmount $1" "not mounted any more (did the daemon die?)"
		daemon_log_tail "$2"
		return 1
	}
	if ! err="$(timeout 300 "$RW" unmount "$1" 2>&1)"; then
		fail "rewindfs unmount $1" "$err"
		daemon_log_tail "$2"
		return 1
	fi
}
# rw_fresh [COMPRESSION]: a new, empty rewindfs volume mounted at RW_MNT.
rw_fresh() {
	if is_mounted "$RW_MNT"; then rw_unmount "$RW_MNT" "$RW_VOL" || return 1; fi
	[[ -d "$RW_VOL" ]] && cp "$RW_VOL/daemon.log" "$LOGS/daemon.$(date +%s%N).log" 2>/dev/null
	rm -rf -- "$RW_VOL"
	"$RW" init "$RW_VOL" --compression "${1:-none}" >>"$LOGS/rewindfs-cli.log" 2>&1 || {
		fail "rewindfs init $RW_VOL" "$(tail -1 "$LOGS/rewindfs-cli.log")"
		return 1
	}
	rw_mount "$RW_VOL" "$RW_MNT"
}
rw_remount() {
	rw_unmount "$RW_MNT" "$RW_VOL" && rw_mount "$RW_VOL" "$RW_MNT"
}

# fresh_targets: every target empty (rewindfs: a new volume).
fresh_targets() {
	find "$PLAIN" "$LO_MNT" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || return 1
	rw_fresh
}

# rw_checked MNT: waits for the background check of the sealed segments
# that every read-write mount starts (status: checking). Cold reads are
# then timed against the volume alone, as plain's are; a read right after
# a mount, during the check, is the read_after_mount row.
rw_checked() {
	local i c
	for ((i = 0; i < 3000; i++)); do
		c="$(rw_status "$1" | jq -r .checking)" || { fail "rewindfs status $1" "$(tail -1 "$LOGS/rewindfs-cli.log")"; return 1; }
		[[ "$c" == false ]] && return 0
		sleep 0.2
	done
	fail "rewindfs mount $1" "the check of the sealed segments still runs after 10 minutes"
	return 1
}

# drop_caches TARGET: cold caches; for rewindfs also a cold daemon, once
# its check after the mount is done. Then every target waits the same 5 s:
# this VM hands freed memory back to its host within about 2 s, and a page
# cache filled from memory handed back costs several times more (README,
# Measured), so a read right after drop_caches is faster than one after a
# wait, whatever the file system.
drop_caches() {
	sync
	if [[ "$1" == rewindfs ]]; then rw_remount && rw_checked "$RW_MNT" || return 1; fi
	echo 3 >/proc/sys/vm/drop_caches
	sleep 5
}

# ---------------------------------------------------------------- build and mount

say "building rewindfs and go-fuse's loopback into $BIN"
(cd "$ROOT" && go build -o "$RW" ./cmd/rewindfs) >"$LOGS/build.log" 2>&1 ||
	die "go build ./cmd/rewindfs failed: $(tail -5 "$LOGS/build.log")"
(cd "$ROOT" && go build -o "$BIN/loopback" github.com/hanwen/go-fuse/v2/example/loopback) >>"$LOGS/build.log" 2>&1 ||
	die "go build go-fuse/v2/example/loopback failed: $(tail -5 "$LOGS/build.log")"

"$BIN/loopback" -q -allow-other "$LO_MNT" "$LO_ORIG" >"$LOGS/loopback.log" 2>&1 9>&- &
LO_PID=$!
for _ in $(seq 50); do
	is_mounted "$LO_MNT" && break
	kill -0 "$LO_PID" 2>/dev/null || die "loopback exited: $(cat "$LOGS/loopback.log")"
	sleep 0.2
done
is_mounted "$LO_MNT" || die "loopback did not mount $LO_MNT within 10 s"
rw_fresh || die "cannot mount rewindfs (see above)"

# ---------------------------------------------------------------- pgbench

pg() { runuser -u postgres -- "$PGBIN/$@"; }
# PG_EXTRA: more server options for pg_start (the open_datasync rounds).
PG_EXTRA=""
pg_start() { # DATA TARGET
	run pg pg_ctl -D "$1" -l "$LOGS/pg-$2.log" -w -t 300 \
		-o "-p $PGPORT -k $SOCK -c listen_addresses= -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB -c max_wal_size=1GB $PG_EXTRA" \
		start >>"$LOGS/pg-ctl.log" 2>&1
}
pg_stop() { run pg pg_ctl -D "$1" -m fast -w -t 300 stop >>"$LOGS/pg-ctl.log" 2>&1; }
psql_q() { run pg psql -X -q -t -A -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PGPORT" "$@"; }

# pg_rounds TPS_KEY LAT_KEY TRACE_KEY LABEL REQUIRED: ROUNDS pgbench runs on
# each target whose data directory OK_PG names, alternating; in the first
# round on rewindfs, rewindfs latency's rows TRACE_KEY_OP (rw_latency_rows).
pg_rounds() {
	local t r data out="$LOGS/pgbench.out"
	for ((r = 0; r < ROUNDS; r++)); do
		for t in $(order "$r"); do
			[[ " $OK_PG " == *" $t "* ]] || continue
			data="${TDIR[$t]}/pg/data"
			sync
			pg_start "$data" "$t" || {
				fail "pg_ctl start on $t" "$(tail -3 "$LOGS/pg-$t.log")"
				continue
			}
			say "pgbench round $((r + 1)) on $t${PG_EXTRA:+ ($PG_EXTRA)}"
			# In the first round on rewindfs, time the mount's FUSE requests
			# from queued to answered over the middle half of the run: what
			# a commit pays in FUSE, beside the TPS.
			local lat_pid=""
			if [[ "$t" == rewindfs && $r -eq 0 ]]; then
				(sleep "$((PG_SECS / 4))" && "$RW" latency "${TDIR[rewindfs]}" --for "$((PG_SECS / 2))s" --json >"$LOGS/latency-$3.json" 2>>"$LOGS/rewindfs-cli.log") &
				lat_pid=$!
			fi
			if run pg pgbench -c 4 -j 2 -T "$PG_SECS" -h "$SOCK" -p "$PGPORT" postgres >"$out" 2>>"$LOGS/pgbench-$t.log"; then
				cat "$out" >>"$LOGS/pgbench-$t.log"
				record "$1" "$t" "$(awk '/^tps = / { print $3; exit }' "$out")"
				record "$2" "$t" "$(awk '/^latency average = / { print $4; exit }' "$out")"
			else
				fail "pgbench on $t" "$(tail -3 "$LOGS/pgbench-$t.log")"
			fi
			if [[ -n "$lat_pid" ]]; then
				if wait "$lat_pid" && rw_latency_rows "$LOGS/latency-$3.json" "$3" "$4" "$5"; then :; else
					fail "rewindfs latency during pgbench" "$(tail -3 "$LOGS/rewindfs-cli.log")"
				fi
			fi
			pg_stop "$data" || fail "pg_ctl stop on $t" "$(tail -3 "$LOGS/pg-$t.log")"
		done
	done
}

bench_pgbench() {
	say "pgbench: scale $PG_SCALE, 4 clients, 2 threads, ${PG_SECS}s, $ROUNDS round(s)"
	row pg_tps pgbench "TPS (scale $PG_SCALE, 4 clients, ${PG_SECS}s)" tps higher
	row pg_lat pgbench "latency average" ms lower
	row pg_tps_ds pgbench "TPS, WAL opened O_DSYNC (wal_sync_method=open_datasync; rewindfs --dsync-direct)" tps higher
	row pg_lat_ds pgbench "latency average, open_datasync" ms lower
	row pg_init pgbench "pgbench -i -s $PG_SCALE" s lower
	row pg_scan pgbench "cold seq scan, count(*) of pgbench_accounts" s lower
	fresh_targets || return 1
	local t r data start
	declare -A ok=()
	for t in $(order 0); do
		data="${TDIR[$t]}/pg/data"
		PG_DATA_DIRS+=("$data")
		mkdir -p "${TDIR[$t]}/pg" && chown postgres:postgres "${TDIR[$t]}/pg" && chmod 0700 "${TDIR[$t]}/pg" || {
			fail "pgbench on $t" "cannot make ${TDIR[$t]}/pg for postgres"
			continue
		}
		if ! run pg initdb -D "$data" -A trust -U postgres --no-locale -E UTF8 >"$LOGS/initdb-$t.log" 2>&1; then
			fail "initdb on $t" "$(tail -3 "$LOGS/initdb-$t.log")"
			continue
		fi
		pg_start "$data" "$t" || {
			fail "pg_ctl start on $t" "$(tail -3 "$LOGS/pg-$t.log")"
			continue
		}
		start="$(now)"
		if run pg pgbench -i -q -s "$PG_SCALE" -h "$SOCK" -p "$PGPORT" postgres >"$LOGS/pgbench-init-$t.log" 2>&1; then
			record pg_init "$t" "$(secs_since "$start")"
			ok[$t]=1
		else
			fail "pgbench -i on $t" "$(tail -3 "$LOGS/pgbench-init-$t.log")"
		fi
		pg_stop "$data" || fail "pg_ctl stop on $t" "$(tail -3 "$LOGS/pg-$t.log")"
	done
	OK_PG="${!ok[*]}"
	pg_rounds pg_tps pg_lat pg_fuse pgbench "fsync write"
	# The same rounds with the WAL opened O_DSYNC, each commit one write(2)
	# (wal_sync_method=open_datasync), on every target; rewindfs mounted
	# with --dsync-direct, which makes such a write one FUSE round trip.
	PG_EXTRA="-c wal_sync_method=open_datasync" RW_MOUNT_FLAGS=(--dsync-direct)
	if rw_remount; then
		pg_rounds pg_tps_ds pg_lat_ds pg_ds_fuse "pgbench, open_datasync, --dsync-direct" write
	else
		fail "pgbench, open_datasync" "cannot remount rewindfs with --dsync-direct"
	fi
	PG_EXTRA="" RW_MOUNT_FLAGS=()
	if is_mounted "$RW_MNT"; then rw_remount; else rw_mount "$RW_VOL" "$RW_MNT"; fi ||
		{ fail "pgbench" "cannot mount rewindfs again without --dsync-direct"; return 1; }
	# A cold sequential scan of the table pgbench -i loaded and the rounds
	# updated: 8 KiB reads by PostgreSQL, which the kernel's readahead
	# turns into large READs of records both large (the load) and small
	# (the updates' page writes).
	local n want=$((PG_SCALE * 100000))
	for ((r = 0; r < ROUNDS; r++)); do
		for t in $(order "$r"); do
			[[ -n "${ok[$t]:-}" ]] || continue
			data="${TDIR[$t]}/pg/data"
			drop_caches "$t" || continue
			pg_start "$data" "$t" || {
				fail "pg_ctl start on $t" "$(tail -3 "$LOGS/pg-$t.log")"
				continue
			}
			start="$(now)"
			if n="$(psql_q -U postgres -c "SELECT count(*) FROM pgbench_accounts" postgres 2>>"$LOGS/pgbench-$t.log")" && [[ "$n" == "$want" ]]; then
				record pg_scan "$t" "$(secs_since "$start")"
			else
				fail "cold seq scan on $t" "count(*) gave '${n:-}', want $want (see $LOGS/pgbench-$t.log)"
			fi
			pg_stop "$data" || fail "pg_ctl stop on $t" "$(tail -3 "$LOGS/pg-$t.log")"
		done
	done
}

# ---------------------------------------------------------------- sqlite

# sqlite_run DB SQLFILE IOFILE: runs sqlite3 as its own process; sets SECS
# to the seconds it took (or ERR). IOFILE gets /proc/PID/io of a shell that
# reaped sqlite3, so its wchar is the bytes sqlite3 wrote.
sqlite_run() {
	local start
	start="$(now)"
	run sh -c 'sqlite3 "$1" <"$2" >/dev/null && cat /proc/$$/io' sh "$1" "$2" >"$3" 2>"$3.err" || {
		ERR="sqlite3 $1 < $2: $(tail -3 "$3.err")"
		return 1
	}
	SECS="$(secs_since "$start")"
}

bench_sqlite() {
	say "sqlite: $SQL_TXNS WAL transactions, $SQL_ROWS-row bulk load, $SQL_ROUNDS round(s)"
	row sq_txn sqlite "$SQL_TXNS single-row txns (WAL, synchronous=FULL)" s lower
	row sq_bulk sqlite "bulk load $SQL_ROWS rows + index (DELETE journal)" s lower
	fresh_targets || return 1
	local t r d s err
	for ((r = 0; r < SQL_ROUNDS; r++)); do
		for t in $(order "$r"); do
			d="${TDIR[$t]}/sqlite"
			rm -rf -- "$d" && mkdir -p "$d"
			sync
			if sqlite_run "$d/txn.db" "$WORK/sql/txn.sql" "$LOGS/sqlite-io"; then
				record sq_txn "$t" "$SECS"
			else
				fail "sqlite txns on $t" "$ERR"
			fi
			if sqlite_run "$d/bulk.db" "$WORK/sql/bulk.sql" "$LOGS/sqlite-io"; then
				record sq_bulk "$t" "$SECS"
			else
				fail "sqlite bulk load on $t" "$ERR"
			fi
			say "sqlite round $((r + 1)) on $t done"
		done
	done
}

# ---------------------------------------------------------------- fio

# fio_run NAME TARGET ARGS...: runs fio on TARGET's directory; sets JS to
# the path of its JSON output (or ERR).
fio_run() {
	local name="$1" t="$2"
	JS="$LOGS/fio-$1-$2.json"
	shift 2
	if ! run fio --name="$name" --directory="${TDIR[$t]}" --ioengine=psync --direct=0 \
		--output-format=json --output="$JS" "$@" >"$LOGS/fio-$name-$t.err" 2>&1; then
		ERR="fio $name on $t: $(tail -3 "$LOGS/fio-$name-$t.err") $(tail -3 "$JS" 2>/dev/null)"
		return 1
	fi
}

bench_fio() {
	local rs="${FIO_RW_MB}M" ss="${FIO_MB}M"
	say "fio: randwrite 4k fdatasync=8 on $rs for ${FIO_SECS}s, seq 1M write/read $ss, randread 4k $ss; $ROUNDS round(s)"
	row fio_rw fio "4k randwrite, fdatasync=8, $rs file" IOPS higher
	row fio_sw fio "1M seq write $ss (end fsync)" MiB/s higher
	row fio_sr fio "1M seq read $ss (cold cache)" MiB/s higher
	row fio_rr fio "4k randread of $((FIO_MB / 4))M in a $ss file, no block twice (cold cache)" IOPS higher
	local t r
	for ((r = 0; r < ROUNDS; r++)); do
		fresh_targets || return 1
		for t in $(order "$r"); do
			say "fio round $((r + 1)) on $t"
			sync
			if fio_run randwrite "$t" --filename=randw.dat --size="$rs" --rw=randwrite --bs=4k \
				--fdatasync=8 --time_based --runtime="$FIO_SECS"; then
				record fio_rw "$t" "$(jq '.jobs[0].write.iops' "$JS")"
			else
				fail "fio randwrite on $t" "$ERR"
			fi
			rm -f "${TDIR[$t]}/randw.dat"
			sync
			if fio_run seqwrite "$t" --filename=seq.dat --size="$ss" --rw=write --bs=1M --end_fsync=1; then
				record fio_sw "$t" "$(jq '.jobs[0].write.bw / 1024' "$JS")"
			else
				fail "fio seq write on $t" "$ERR"
				continue
			fi
			drop_caches "$t" || continue
			if fio_run seqread "$t" --filename=seq.dat --size="$ss" --rw=read --bs=1M; then
				record fio_sr "$t" "$(jq '.jobs[0].read.bw / 1024' "$JS")"
			else
				fail "fio seq read on $t" "$ERR"
			fi
			drop_caches "$t" || continue
			# One pass over a quarter of the blocks, none read twice: a longer,
			# time-based run would read blocks again, from the page cache.
			if fio_run randread "$t" --filename=seq.dat --size="$ss" --rw=randread --bs=4k \
				--io_size="$((FIO_MB / 4))M" --runtime="$FIO_SECS"; then
				record fio_rr "$t" "$(jq '.jobs[0].read.iops' "$JS")"
			else
				fail "fio randread on $t" "$ERR"
			fi
			rm -f "${TDIR[$t]}/seq.dat"
		done
	done
}

# ---------------------------------------------------------------- rewindfs only

bench_rewind() {
	local mb lsn before after s pid rss start f="$RW_MNT/rewind.dat"
	for mb in $REWIND_SIZES; do
		say "rewind: undo $mb MiB of 4k random overwrites in a $REWIND_FILE_MB MiB file"
		rw_fresh || return 1
		run fio --name=base --filename="$f" --rw=write --bs=1M --size="${REWIND_FILE_MB}M" --end_fsync=1 \
			--ioengine=psync >"$LOGS/fio-rewind-base.log" 2>&1 || {
			fail "rewind $mb MiB" "fio base file: $(tail -3 "$LOGS/fio-rewind-base.log")"
			continue
		}
		before="$(md5sum <"$f" | cut -d' ' -f1)"
		lsn="$(rw_status "$RW_MNT" head_lsn)" || {
			fail "rewindfs status --json $RW_MNT" "$(tail -1 "$LOGS/rewindfs-cli.log")"
			continue
		}
		run fio --name=overwrite --filename="$f" --rw=randwrite --bs=4k --size="${REWIND_FILE_MB}M" \
			--io_size="${mb}M" --end_fsync=1 --ioengine=psync >"$LOGS/fio-rewind-$mb.log" 2>&1 || {
			fail "rewind $mb MiB" "fio overwrite: $(tail -3 "$LOGS/fio-rewind-$mb.log")"
			continue
		}
		sync
		local head logb
		head="$(rw_status "$RW_MNT" head_lsn)"
		start="$(now)"
		if ! run timeout 900 "$RW" rewind "$RW_MNT" --to "$lsn" >"$LOGS/rewind-$mb.out" 2>&1; then
			fail "rewindfs rewind $RW_MNT --to $lsn ($mb MiB)" "$(tail -3 "$LOGS/rewind-$mb.out")"
			daemon_log_tail "$RW_VOL"
			continue
		fi
		s="$(secs_since "$start")"
		after="$(md5sum <"$f" | cut -d' ' -f1)"
		if [[ "$after" == "$before" ]]; then
			rwrow "rewind_$mb" "rewind: undo $mb MiB of 4k random overwrites (LSN $head → $lsn)" "$s s"
		else
			rwrow "rewind_$mb" "rewind: undo $mb MiB of 4k random overwrites (LSN $head → $lsn)" "$s s, CONTENT MISMATCH"
			fail "rewind $mb MiB" "after rewindfs rewind $RW_MNT --to $lsn, $f has md5 $after, not $before as at LSN $lsn"
		fi
	done

	say "mount: a volume with $MOUNT_LOG_MB MiB of log"
	rw_fresh || return 1
	if run fio --name=load --filename="$RW_MNT/load.dat" --rw=write --bs=1M --size="${MOUNT_LOG_MB}M" --end_fsync=1 \
		--ioengine=psync >"$LOGS/fio-load.log" 2>&1; then
		pid="$(rw_status "$RW_MNT" pid)" && rss="$(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$pid/status")"
		rwrow rss_load "daemon RSS after writing $MOUNT_LOG_MB MiB" "${rss:-?}"
		rw_unmount "$RW_MNT" "$RW_VOL" || return 1
		logb="$(rw_status "$RW_VOL" log_bytes)"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		start="$(now)"
		rw_mount "$RW_VOL" "$RW_MNT" || return 1
		s="$(secs_since "$start")"
		rwrow mount_time "mount a volume with $((logb / 1048576)) MiB of log (cold page cache)" "$s s"
		pid="$(rw_status "$RW_MNT" pid)" && rss="$(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$pid/status")"
		rwrow rss_mount "daemon RSS right after that mount" "${rss:-?}"
		start="$(now)"
		md5sum "$RW_MNT/load.dat" >/dev/null && rwrow read_after_mount "read the $MOUNT_LOG_MB MiB file back right after that mount, during its check" \
			"$(awk -v s="$(secs_since "$start")" -v mb="$MOUNT_LOG_MB" 'BEGIN { printf "%.0f MiB/s", mb / s }')"
	else
		fail "mount time" "fio load: $(tail -3 "$LOGS/fio-load.log")"
	fi

	# The daemon's memory per page version in the window, measured on the Go
	# heap (the daemon's RSS moves with the collector's pacing, not only
	# with what is live): 4 KiB writes at random, one record per version,
	# the worst case (a 128 KiB write is one record for 32 versions).
	say "memory: index bytes per page version (go test -bench IndexMemory)"
	local memout
	if memout="$(cd "$ROOT" && run go test ./volume -run '^$' -bench 'IndexMemory/file=1024MiB' -benchtime 1x 2>&1)"; then
		rwrow index_mem "daemon memory per page version in the window (index, metadata, page table; 200,000 random 4 KiB writes)" \
			"$(awk '/B\/version/ { for (i = 1; i < NF; i++) if ($(i + 1) == "B/version") printf "%s B", $i }' <<<"$memout")"
	else
		fail "go test -bench IndexMemory" "$(tail -3 <<<"$memout")"
	fi

	say "write amplification: the SQLite bulk load ($SQL_ROWS rows) per compression"
	local c io app
	for c in none s2 zstd; do
		rw_fresh "$c" || continue
		mkdir -p "$RW_MNT/wa"
		if ! sqlite_run "$RW_MNT/wa/bulk.db" "$WORK/sql/bulk.sql" "$LOGS/wa-io-$c"; then
			fail "sqlite bulk load on rewindfs --compression $c" "$ERR"
			continue
		fi
		s="$SECS"
		app="$(awk '/^wchar:/ { print $2 }' "$LOGS/wa-io-$c")"
		rw_unmount "$RW_MNT" "$RW_VOL" || continue
		logb="$(rw_status "$RW_VOL" log_bytes)" || {
			fail "rewindfs status --json $RW_VOL" "$(tail -1 "$LOGS/rewindfs-cli.log")"
			continue
		}
		rwrow "wa_$c" "write amplification, --compression $c: log_bytes / bytes sqlite3 wrote" \
			"$(awk -v l="$logb" -v a="$app" 'BEGIN { printf "%.2f (%.1f MiB / %.1f MiB)", l / a, l / 1048576, a / 1048576 }')"
		rwrow "wa_t_$c" "bulk load time, --compression $c" "$s s"
	done
	rw_fresh
}

# ---------------------------------------------------------------- reset

# The test-database use case: after a test changed 1,000 rows, put the
# database back as it was. On rewindfs: `rewindfs rewind --to MARK` (for
# PostgreSQL with --stop and --start, so the server restarts on the
# rewound files). On the plain directory, what one does without rewindfs:
# DROP DATABASE + CREATE DATABASE ... TEMPLATE (the server keeps running),
# and for SQLite copying a saved copy of the file back (and fsyncing it, as
# a rewind is durable too). Each reset is checked: the changed rows are
# back.

pg_reset_scripts() { # DATA TAG: writes $WORK/pg-stop-TAG.sh and pg-start-TAG.sh
	printf '#!/bin/sh\nexec runuser -u postgres -- %s/pg_ctl -D %s -m fast -w -t 300 stop >>%s 2>&1\n' \
		"$PGBIN" "$1" "$LOGS/pg-ctl.log" >"$WORK/pg-stop-$2.sh"
	printf '#!/bin/sh\nexec runuser -u postgres -- %s/pg_ctl -D %s -l %s -w -t 300 -o "-p %s -k %s -c listen_addresses= -c fsync=on -c shared_buffers=128MB" start >>%s 2>&1\n' \
		"$PGBIN" "$1" "$LOGS/pg-reset-$2.log" "$PGPORT" "$SOCK" "$LOGS/pg-ctl.log" >"$WORK/pg-start-$2.sh"
	chmod 0755 "$WORK/pg-stop-$2.sh" "$WORK/pg-start-$2.sh"
}
fmt3() { awk -v v="$1" 'BEGIN { if (v == "") print "FAIL"; else printf "%.3g", v }'; }
# step_secs JSON STEP: the seconds a step of rewind --stop --start --json took
step_secs() { jq --arg s "$2" '.steps[] | select(.step == $s) | .seconds' <<<"$1"; }

bench_reset() {
	local rounds=$((ROUNDS * 3)) scale=$((QUICK ? 1 : 5)) rows=$((QUICK ? 100000 : 500000))
	say "reset: PostgreSQL test database (pgbench scale $scale) and SQLite ($rows rows) after a 1,000-row UPDATE, $rounds rounds"
	local r start s data out sum t_rw="" t_plain="" step
	declare -A t_step=()
	local upd="UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 1000"
	local check="SELECT count(*) FILTER (WHERE abalance <> 0) FROM pgbench_accounts"

	# PostgreSQL on rewindfs: mark the stopped, clean database once.
	rw_fresh || return 1
	data="$RW_MNT/pgreset/data"
	mkdir -p "$RW_MNT/pgreset" && chown postgres:postgres "$RW_MNT/pgreset" && chmod 0700 "$RW_MNT/pgreset"
	PG_DATA_DIRS+=("$data")
	run pg initdb -D "$data" -A trust -U postgres --no-locale -E UTF8 >"$LOGS/initdb-reset-rw.log" 2>&1 ||
		{ fail "reset: initdb on rewindfs" "$(tail -3 "$LOGS/initdb-reset-rw.log")"; return 1; }
	pg_reset_scripts "$data" rw
	run "$WORK/pg-start-rw.sh" || { fail "reset: pg_ctl start on rewindfs" "$(tail -3 "$LOGS/pg-reset-rw.log")"; return 1; }
	psql_q -U postgres -c "CREATE DATABASE testdb" postgres >/dev/null &&
		run pg pgbench -i -q -s "$scale" -h "$SOCK" -p "$PGPORT" testdb >"$LOGS/pgbench-init-reset-rw.log" 2>&1 ||
		{ fail "reset: test database on rewindfs" "$(tail -3 "$LOGS/pgbench-init-reset-rw.log")"; return 1; }
	run "$WORK/pg-stop-rw.sh" || { fail "reset: pg_ctl stop on rewindfs" "$(tail -3 "$LOGS/pg-ctl.log")"; return 1; }
	sync "$data" # a sync point after the last file operation of the shutdown
	"$RW" mark "$RW_MNT" pgclean >>"$LOGS/rewindfs-cli.log" 2>&1 || { fail "reset: rewindfs mark" "$(tail -1 "$LOGS/rewindfs-cli.log")"; return 1; }
	run "$WORK/pg-start-rw.sh" || { fail "reset: pg_ctl start on rewindfs" "$(tail -3 "$LOGS/pg-reset-rw.log")"; return 1; }
	for ((r = 0; r < rounds; r++)); do
		psql_q -U postgres -c "$upd" testdb >/dev/null || { fail "reset: UPDATE on rewindfs" "see $LOGS"; break; }
		start="$(now)"
		if ! out="$(run "$RW" rewind "$RW_MNT" --to pgclean --stop "$WORK/pg-stop-rw.sh" --start "$WORK/pg-start-rw.sh" --json 2>>"$LOGS/rewindfs-cli.log")"; then
			fail "reset: rewindfs rewind --stop --start" "$(tail -3 "$LOGS/rewindfs-cli.log") $(tail -3 "$LOGS/pg-reset-rw.log")"
			break
		fi
		s="$(secs_since "$start")"
		sum="$(psql_q -U postgres -c "$check" testdb)" || sum="?"
		[[ "$sum" == 0 ]] || { fail "reset on rewindfs" "$sum rows still changed after the rewind"; break; }
		t_rw="$t_rw $s"
		for step in stop wait rewind start; do
			t_step[$step]="${t_step[$step]:-} $(step_secs "$out" "$step")"
		done
	done
	run "$WORK/pg-stop-rw.sh" || true

	# PostgreSQL on the plain directory: the template route.
	data="$PLAIN/pgreset/data"
	rm -rf -- "$PLAIN/pgreset" && mkdir -p "$PLAIN/pgreset" && chown postgres:postgres "$PLAIN/pgreset" && chmod 0700 "$PLAIN/pgreset"
	PG_DATA_DIRS+=("$data")
	run pg initdb -D "$data" -A trust -U postgres --no-locale -E UTF8 >"$LOGS/initdb-reset-plain.log" 2>&1 ||
		{ fail "reset: initdb on plain" "$(tail -3 "$LOGS/initdb-reset-plain.log")"; return 1; }
	pg_reset_scripts "$data" plain
	run "$WORK/pg-start-plain.sh" || { fail "reset: pg_ctl start on plain" "$(tail -3 "$LOGS/pg-reset-plain.log")"; return 1; }
	psql_q -U postgres -c "CREATE DATABASE testdb_template" postgres >/dev/null &&
		run pg pgbench -i -q -s "$scale" -h "$SOCK" -p "$PGPORT" testdb_template >"$LOGS/pgbench-init-reset-plain.log" 2>&1 &&
		psql_q -U postgres -c "CREATE DATABASE testdb TEMPLATE testdb_template" postgres >/dev/null ||
		{ fail "reset: test database on plain" "$(tail -3 "$LOGS/pgbench-init-reset-plain.log")"; return 1; }
	for ((r = 0; r < rounds; r++)); do
		psql_q -U postgres -c "$upd" testdb >/dev/null || { fail "reset: UPDATE on plain" "see $LOGS"; break; }
		start="$(now)"
		psql_q -U postgres -c "DROP DATABASE testdb" -c "CREATE DATABASE testdb TEMPLATE testdb_template" postgres >/dev/null ||
			{ fail "reset: DROP + CREATE DATABASE TEMPLATE" "see $LOGS"; break; }
		s="$(secs_since "$start")"
		sum="$(psql_q -U postgres -c "$check" testdb)" || sum="?"
		[[ "$sum" == 0 ]] || { fail "reset on plain" "$sum rows still changed after DROP + CREATE"; break; }
		t_plain="$t_plain $s"
	done
	run "$WORK/pg-stop-plain.sh" || true
	rwrow reset_pg "reset a PostgreSQL test database (pgbench -s $scale: $((scale * 100))k rows) after UPDATE of 1,000 rows: rewindfs rewind --to MARK --stop 'pg_ctl stop -m fast' --start 'pg_ctl start' (mean of $rounds) vs DROP DATABASE + CREATE DATABASE … TEMPLATE on the plain directory, server running" \
		"$(fmt3 "$(mean "$t_rw")") s vs $(fmt3 "$(mean "$t_plain")") s"
	rwrow reset_pg_steps "  the rewindfs reset's steps (means): stop, wait for the server's processes to be gone, rewind, start" \
		"$(fmt3 "$(mean "${t_step[stop]:-}")") + $(fmt3 "$(mean "${t_step[wait]:-}")") + $(fmt3 "$(mean "${t_step[rewind]:-}")") + $(fmt3 "$(mean "${t_step[start]:-}")") s"

	# SQLite: rewind to a mark vs copying the file back.
	local db golden sql="$WORK/sql/reset-init.sql" sqlu="$WORK/sql/reset-update.sql" t_sq_rw="" t_sq_plain="" want got
	mkdir -p "$WORK/sql"
	printf 'CREATE TABLE items(id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT NOT NULL);\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) INSERT INTO items SELECT x, x, hex(randomblob(40)) FROM c;\nCREATE INDEX items_v ON items(v);\n' \
		"$rows" >"$sql"
	printf 'UPDATE items SET v = v + 1 WHERE id <= 1000;\n' >"$sqlu"
	local sqcheck="SELECT count(*) FROM items WHERE v <> id;"
	db="$RW_MNT/sqlreset/test.db"
	mkdir -p "$RW_MNT/sqlreset"
	run sh -c 'sqlite3 "$1" <"$2"' sh "$db" "$sql" || { fail "reset: SQLite test database on rewindfs" "sqlite3 failed"; return 1; }
	sync "$RW_MNT/sqlreset" # a sync point after the journal's deletion
	"$RW" mark "$RW_MNT" sqlclean >>"$LOGS/rewindfs-cli.log" 2>&1 || { fail "reset: rewindfs mark (SQLite)" "$(tail -1 "$LOGS/rewindfs-cli.log")"; return 1; }
	for ((r = 0; r < rounds; r++)); do
		run sh -c 'sqlite3 "$1" <"$2"' sh "$db" "$sqlu" || { fail "reset: SQLite UPDATE on rewindfs" "sqlite3 failed"; break; }
		start="$(now)"
		run "$RW" rewind "$RW_MNT" --to sqlclean >>"$LOGS/rewindfs-cli.log" 2>&1 || { fail "reset: rewindfs rewind (SQLite)" "$(tail -3 "$LOGS/rewindfs-cli.log")"; break; }
		s="$(secs_since "$start")"
		got="$(sqlite3 "$db" "$sqcheck")"
		[[ "$got" == 0 ]] || { fail "reset SQLite on rewindfs" "$got rows still changed after the rewind"; break; }
		t_sq_rw="$t_sq_rw $s"
	done
	db="$PLAIN/sqlreset/test.db" golden="$PLAIN/sqlreset/test.db.golden"
	rm -rf -- "$PLAIN/sqlreset" && mkdir -p "$PLAIN/sqlreset"
	run sh -c 'sqlite3 "$1" <"$2"' sh "$db" "$sql" && cp "$db" "$golden" && sync "$golden" || { fail "reset: SQLite test database on plain" "sqlite3 or cp failed"; return 1; }
	for ((r = 0; r < rounds; r++)); do
		run sh -c 'sqlite3 "$1" <"$2"' sh "$db" "$sqlu" || { fail "reset: SQLite UPDATE on plain" "sqlite3 failed"; break; }
		start="$(now)"
		cp "$golden" "$db.tmp" && sync "$db.tmp" && mv "$db.tmp" "$db" && sync "$PLAIN/sqlreset" || { fail "reset: copy SQLite back" "cp failed"; break; }
		s="$(secs_since "$start")"
		got="$(sqlite3 "$db" "$sqcheck")"
		[[ "$got" == 0 ]] || { fail "reset SQLite on plain" "$got rows still changed after the copy"; break; }
		t_sq_plain="$t_sq_plain $s"
	done
	want="$(du -k "$golden" | cut -f1)"
	rwrow reset_sqlite "reset a SQLite test database ($((rows / 1000))k rows, $((want / 1024)) MiB) after UPDATE of 1,000 rows: rewindfs rewind --to MARK (mean of $rounds) vs copying the saved file back (cp, fsync, rename) on the plain directory" \
		"$(fmt3 "$(mean "$t_sq_rw")") s vs $(fmt3 "$(mean "$t_sq_plain")") s"
}

# ---------------------------------------------------------------- run

RUN_START="$(now)"
if want sqlite || want rewind; then
	bash "$HERE/gen-sql.sh" "$WORK/sql" "$SQL_TXNS" "$SQL_ROWS"
fi
for w in pgbench sqlite fio rewind reset; do
	want "$w" || continue
	"bench_$w" || fail "$w" "stopped early (see above)"
done
RUN_SECS="$(secs_since "$RUN_START")"

# ---------------------------------------------------------------- report

fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "FAIL"; else if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.3g", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f×", a / b }'; }

report() {
	local gofuse
	gofuse="$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/hanwen/go-fuse/v2 2>/dev/null || echo '?')"
	echo "## rewindfs benchmark$( ((QUICK)) && echo ' (quick)')"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), run took $(awk -v s="$RUN_SECS" 'BEGIN { printf "%dm%02ds", s / 60, s % 60 }')"
	echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "- disk: $(findmnt -n -o FSTYPE --target "$WORK") on $(findmnt -n -o SOURCE --target "$WORK") ($WORK)"
	echo "- rewindfs $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [[ -n "$(git status --porcelain 2>/dev/null)" ]] && echo ' + uncommitted changes'), go-fuse $gofuse loopback, $(fio --version), SQLite $(sqlite3 --version | cut -d' ' -f1), PostgreSQL $("$PGBIN/postgres" --version 2>/dev/null | awk '{ print $3 }')"
	echo "- each figure is the mean of $ROUNDS round(s) ($SQL_ROUNDS for SQLite), targets alternating; ratio = target / plain"
	if ((${#ROWS[@]})); then
		echo
		echo "| workload | measure | unit | better | plain | fuse loopback | rewindfs | fuse / plain | rewindfs / plain |"
		echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
		local k w m u b p l r
		for k in "${ROWS[@]}"; do
			IFS='|' read -r w m u b <<<"${ROWL[$k]}"
			p="$(mean "${VAL[$k|plain]:-}")" l="$(mean "${VAL[$k|fuse]:-}")" r="$(mean "${VAL[$k|rewindfs]:-}")"
			echo "| $w | $m | $u | $b | $(fmt "$p") | $(fmt "$l") | $(fmt "$r") | $(ratio "$l" "$p") | $(ratio "$r" "$p") |"
		done
	fi
	if ((${#RWROWS[@]})); then
		echo
		echo "| rewindfs only | value |"
		echo "| --- | ---: |"
		local label value
		for k in "${RWROWS[@]}"; do
			IFS='|' read -r label value <<<"${RWVAL[$k]}"
			echo "| $label | $value |"
		done
		if [[ -n "${RWVAL[wa_none]:-}" ]]; then
			echo
			echo "Write amplification counts what reached the log against what sqlite3 passed to write(2);"
			echo "the kernel's FUSE writeback cache merges rewrites of a page before the daemon sees them,"
			echo "so it can be below 1 even without compression."
		fi
	fi
	if ((${#FAILURES[@]})); then
		echo
		echo "Failures:"
		echo
		local f
		for f in "${FAILURES[@]}"; do echo "- ${f//$'\n'/ }"; done
	fi
}

TABLE="$(report)"
echo
echo "$TABLE"
if [[ -n "$OUT" ]]; then
	echo "$TABLE" >"$OUT"
	say "wrote $OUT"
fi
((${#FAILURES[@]} == 0)) || exit 1

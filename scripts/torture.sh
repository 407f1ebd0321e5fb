#!/usr/bin/env bash
# torture.sh: SQLite and PostgreSQL on one rewindfs mount, under load, while
# the daemon is SIGKILLed at random moments and the volume is rewound live
# to recent sync points (marks) and forward again, round after round, for
# TORTURE_SECONDS. After every round the databases check themselves
# (sqlite's PRAGMA integrity_check, pg_amcheck --heapallindexed, pgbench's
# balances) and no acknowledged transaction may be missing: each writer
# commits one row per transaction and appends the row's id to a file outside
# the mount only after the commit returned. After a rewind to a mark the
# databases must hold exactly what they held when the mark was made.
#
# Usage: bash scripts/torture.sh        (as root; e2e/torture_test.go runs it)
#
# Environment:
#   TORTURE_SECONDS=60     how long to run; a round started before the end is finished
#   TORTURE_SEED=N         replay the random choices of an earlier run
#   TORTURE_WINDOW=30s     the volume's window: background compaction folds what is older
#   TORTURE_COMPACT=auto   compaction hook (see compact_hook): auto, 1 or 0
#   TORTURE_DIR=dir        work here (mode 0755, for the postgres user) instead of a new /tmp dir
#   TORTURE_KEEP=1         keep the work directory afterwards (it is kept anyway on failure)
#   REWINDFS_BIN=path      the rewindfs binary (default: build ./cmd/rewindfs)
#   REWINDFS_MOUNT_BIN=p   the binary that runs `mount` and so the daemon (default: REWINDFS_BIN)
#
# Exit status: 0 when every round passed, 1 on a failure (the reason is the
# last line on stderr), 77 when a tool is missing.
set -euo pipefail

SECONDS_BUDGET=${TORTURE_SECONDS:-60}
SEED=${TORTURE_SEED:-$(( $(date +%s%N) % 32768 ))}
WINDOW=${TORTURE_WINDOW:-30s}
COMPACT=${TORTURE_COMPACT:-auto}
RANDOM=$SEED
START=$(date +%s)

say() { printf 'torture: %s\n' "$*"; }
die() {
	printf 'torture: FAILED: %s\n' "$*" >&2
	FAILED=1
	exit 1
}
skip() {
	printf 'torture: SKIP: %s\n' "$*" >&2
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (FUSE mounts with --allow-other, PostgreSQL as postgres)"
[ -e /dev/fuse ] || skip "no /dev/fuse"

# ---------------------------------------------------------------- tools

pgbin() {
	local name=$1 p d
	if p=$(command -v "$name" 2>/dev/null); then
		echo "$p"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
		if [ -x "$d/$name" ]; then
			echo "$d/$name"
			return
		fi
	done
	skip "tool $name not found"
}
SQLITE3=$(command -v sqlite3) || skip "sqlite3 not found"
RUNUSER=$(command -v runuser) || skip "runuser not found"
INITDB=$(pgbin initdb)
PG_CTL=$(pgbin pg_ctl)
PSQL=$(pgbin psql)
PGBENCH=$(pgbin pgbench)
PG_AMCHECK=$(pgbin pg_amcheck)
id postgres >/dev/null 2>&1 || skip "no postgres user"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${TORTURE_DIR:-}" ]; then
	TORTURE_DIR=$(mktemp -d /tmp/rewindfs-torture.XXXXXX)
fi
W=$TORTURE_DIR
mkdir -p "$W"
chmod 755 "$W"
if [ -z "${REWINDFS_BIN:-}" ]; then
	REWINDFS_BIN=$W/rewindfs
	(cd "$ROOT" && go build -o "$REWINDFS_BIN" ./cmd/rewindfs) || die "go build failed"
fi
RW=$REWINDFS_BIN
RWM=${REWINDFS_MOUNT_BIN:-$RW}

VOL=$W/vol
MNT=$W/mnt
ACKS=$W/acks # outside the mount
SOCK=$(mktemp -d /tmp/rewindfs-torture-pg.XXXXXX) # short: a socket path must fit in 107 bytes
PGLOG=$W/postgres.log
PGDATA=$MNT/pgdata
DB_WAL=$MNT/wal.db   # SQLite in WAL mode
DB_DEL=$MNT/del.db   # SQLite with a rollback journal
MARKS=$W/marks.tsv   # name lsn epoch wal_max del_max pg_max pgbench_summary
mkdir -p "$MNT" "$ACKS"
chown postgres "$SOCK"
: >"$PGLOG"
chown postgres "$PGLOG"
: >"$MARKS"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

DAEMON=0       # the daemon's pid while mounted
POSTMASTER=0   # the postmaster's pid while running
WRITERS=()     # pids of the writer process groups
FAILED=0
ROUNDS=0
CRASHES=0
REWINDS=0
COMPACTS=0
echo "$SOCK" >"$W/sockdir"

# ---------------------------------------------------------------- cleanup

cleanup() {
	local rc=$?
	set +e
	stop_writers kill
	if [ "$POSTMASTER" -gt 0 ] && kill -0 "$POSTMASTER" 2>/dev/null; then
		"$RUNUSER" -u postgres -- "$PG_CTL" -D "$PGDATA" -m immediate -w -t 20 stop >/dev/null 2>&1
		kill_tree "$POSTMASTER"
	fi
	if mountpoint -q "$MNT"; then
		"$RW" unmount "$MNT" >/dev/null 2>&1 || umount -l "$MNT"
	fi
	if [ "$DAEMON" -gt 0 ] && kill -0 "$DAEMON" 2>/dev/null; then
		kill -KILL "$DAEMON" 2>/dev/null
	fi
	rm -rf "$SOCK"
	if [ "$rc" != 0 ] || [ "$FAILED" = 1 ]; then
		echo "torture: seed $SEED (replay with TORTURE_SEED=$SEED); work directory kept: $W" >&2
		[ -f "$VOL/daemon.log" ] && { echo "--- daemon.log (tail)" >&2; tail -n 30 "$VOL/daemon.log" >&2; }
		[ -f "$PGLOG" ] && { echo "--- postgres.log (tail)" >&2; tail -n 20 "$PGLOG" >&2; }
	elif [ "${TORTURE_KEEP:-0}" != 1 ]; then
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kill_tree SIGKILLs pid and every descendant, and waits until they are gone.
kill_tree() {
	local pid=$1 all=("$1") i=0 c
	while [ $i -lt ${#all[@]} ]; do
		for c in $(ps -o pid= --ppid "${all[$i]}" 2>/dev/null); do all+=("$c"); done
		i=$((i + 1))
	done
	kill -KILL "${all[@]}" 2>/dev/null || true
	for c in "${all[@]}"; do wait_gone "$c" 30 || die "process $c survived SIGKILL"; done
}

# wait_gone PID SECONDS: until the process is gone (a zombie counts as gone).
wait_gone() {
	local deadline=$(($(date +%s) + $2)) st
	while [ -e "/proc/$1" ]; do
		st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)
		[ "$st" = Z ] || [ "$st" = X ] && return 0
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# json_field NAME: a top-level field of the JSON object on stdin.
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---------------------------------------------------------------- the mount

mount_volume() {
	"$RWM" mount "$VOL" "$MNT" --allow-other >/dev/null || die "mount failed"
	DAEMON=$("$RW" status "$MNT" --json | json_field pid)
	[ -n "$DAEMON" ] && [ "$DAEMON" -gt 0 ] || die "status --json has no pid"
}

crash_daemon() {
	kill -KILL "$DAEMON"
	wait_gone "$DAEMON" 10 || die "daemon $DAEMON survived SIGKILL"
	DAEMON=0
}

# detach_dead: the daemon is dead; unmount detaches its mount.
detach_dead() {
	"$RW" unmount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" || die "cannot detach the dead mount"
	local i
	for i in $(seq 100); do mountpoint -q "$MNT" || return 0; sleep 0.05; done
	die "$MNT is still mounted after detaching it"
}

clean_unmount() {
	"$RW" unmount "$MNT" >/dev/null || die "unmount failed"
	wait_gone "$DAEMON" 30 || die "daemon $DAEMON still running after unmount"
	DAEMON=0
}

# ---------------------------------------------------------------- PostgreSQL

pg() { "$RUNUSER" -u postgres -- "$@"; }
psqlc() { "$PSQL" -X -q -At -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }

pg_start() {
	pg "$PG_CTL" -D "$PGDATA" -l "$PGLOG" -w -t 120 \
		-o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_wal_size=64MB" \
		start >/dev/null 2>>"$W/pg_ctl.err" || die "pg_ctl start failed: $(tail -n 2 "$W/pg_ctl.err" | tr '\n' ' ')(see $PGLOG)"
	POSTMASTER=$(head -n 1 "$PGDATA/postmaster.pid")
}

pg_stop() {
	pg "$PG_CTL" -D "$PGDATA" -m fast -w -t 120 stop >/dev/null || die "pg_ctl stop failed"
	wait_gone "$POSTMASTER" 30 || die "postmaster $POSTMASTER still running after pg_ctl stop"
	POSTMASTER=0
}

# pg_crash: as a power cut would, after the daemon died. The next
# postmaster refuses to start while the old pid exists, even as a zombie,
# so wait until init has reaped it.
pg_crash() {
	local pid=$POSTMASTER i
	[ "$pid" -gt 0 ] || return 0
	kill_tree "$pid"
	for i in $(seq 600); do [ -e "/proc/$pid" ] || break; sleep 0.05; done
	[ -e "/proc/$pid" ] && die "postmaster $pid was killed but not reaped in 30 s"
	POSTMASTER=0
}

pgbench_summary() {
	psqlc "SELECT (SELECT count(*) FROM pgbench_history) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
		(SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
		(SELECT coalesce(sum(delta), 0) FROM pgbench_history)"
}

# ---------------------------------------------------------------- writers

# start_writer NAME SCRIPT ARGS... runs a loop in its own session; it
# stops after its current commit once $ACKS/stop exists.
WRITER_NAMES=()
start_writer() {
	local name=$1
	shift
	setsid bash -c "$1" "$name" "${@:2}" </dev/null >/dev/null 2>>"$ACKS/$name.err" &
	WRITERS+=($!)
	disown $! # killed on purpose: no job report
	WRITER_NAMES+=("$name")
}

SQLITE_LOOP='db=$1; i=$2; ack=$3; stop=$4; sqlite3=$5
while [ ! -e "$stop" ]; do
	"$sqlite3" -batch -bail "$db" "PRAGMA busy_timeout=10000; PRAGMA synchronous=FULL; INSERT INTO t VALUES($i, hex(randomblob(300)));" >/dev/null || exit 1
	echo "$i" >>"$ack"
	i=$((i+1))
done'
PG_LOOP='i=$1; ack=$2; stop=$3; shift 3
while [ ! -e "$stop" ]; do
	"$@" -c "INSERT INTO t VALUES ($i, repeat(md5($i::text), 8))" >/dev/null || exit 1
	echo "$i" >>"$ack"
	i=$((i+1))
done'
PGBENCH_LOOP='while [ ! -e "$1" ]; do "${@:2}" >/dev/null 2>&1 || sleep 0.2; done'

# start_load ROUND: every writer starts after what the databases hold now.
start_load() {
	local r=$1
	rm -f "$ACKS/stop"
	: >"$ACKS/wal.$r" ; : >"$ACKS/del.$r" ; : >"$ACKS/pg.$r"
	start_writer wal "$SQLITE_LOOP" "$DB_WAL" $((WAL_MAX + 1)) "$ACKS/wal.$r" "$ACKS/stop" "$SQLITE3"
	start_writer del "$SQLITE_LOOP" "$DB_DEL" $((DEL_MAX + 1)) "$ACKS/del.$r" "$ACKS/stop" "$SQLITE3"
	start_writer pg "$PG_LOOP" $((PG_MAX + 1)) "$ACKS/pg.$r" "$ACKS/stop" \
		"$PSQL" -X -q -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1
	start_writer pgbench "$PGBENCH_LOOP" "$ACKS/stop" "$PGBENCH" -n -c 2 -j 1 -T 5 -h "$SOCK" -p "$PORT" -U postgres postgres
}

# stop_writers [kill]: let each writer finish its commit and stop, or kill
# them. pgbench is always killed: it only makes churn, and the server rolls
# back what it had under way.
stop_writers() {
	local p i
	touch "$ACKS/stop"
	for i in "${!WRITERS[@]}"; do
		if [ "${1:-}" = kill ] || [ "${WRITER_NAMES[$i]}" = pgbench ]; then
			kill -KILL -- -"${WRITERS[$i]}" 2>/dev/null || true
		fi
	done
	for p in "${WRITERS[@]}"; do
		local deadline=$(($(date +%s) + 60))
		while kill -0 "$p" 2>/dev/null; do
			[ "$(date +%s)" -ge "$deadline" ] && { kill -KILL -- -"$p" 2>/dev/null || true; }
			sleep 0.05
		done
		kill -KILL -- -"$p" 2>/dev/null || true # stragglers of the group
	done
	WRITERS=()
	WRITER_NAMES=()
}

# ---------------------------------------------------------------- checks

# last_ack FILE: the last complete acknowledgement (0 if none). A last
# line without its newline was being written when the writer died.
last_ack() {
	local f=$1 last
	if [ ! -s "$f" ]; then
		last=
	elif [ -z "$(tail -c 1 "$f")" ]; then
		last=$(tail -n 1 "$f")
	else
		last=$(sed '$d' "$f" | tail -n 1)
	fi
	echo "${last:-0}"
}

# check_rows WHAT COUNT MIN MAX BASE ACKED [EXACT]: ids are 1..MAX without a
# gap (commits are serial), nothing from before the round is gone, every
# acknowledged id is there; with EXACT, MAX must be exactly that.
check_rows() {
	local what=$1 count=$2 min=$3 max=$4 base=$5 acked=$6 exact=${7:-}
	if [ "$count" -gt 0 ] && { [ "$min" != 1 ] || [ "$count" != "$max" ]; }; then
		die "$what: ids are not 1..max: count $count min $min max $max"
	fi
	[ "$max" -ge "$base" ] || die "$what: rows from before this round are gone: max id $max, was $base"
	[ "$max" -ge "$acked" ] || die "$what: acknowledged commits lost: id $acked was acknowledged, max id is $max"
	if [ -n "$exact" ] && [ "$max" != "$exact" ]; then
		die "$what: after the rewind max id is $max, the mark recorded $exact"
	fi
}

sqlite_check() {
	local db=$1 what=$2 base=$3 acked=$4 exact=${5:-} out
	out=$("$SQLITE3" -batch -bail "$db" "PRAGMA integrity_check;") || die "$what: sqlite3 failed"
	[ "$out" = ok ] || die "$what: integrity_check: $out"
	out=$("$SQLITE3" -batch -bail "$db" "SELECT count(*), coalesce(min(id),0), coalesce(max(id),0) FROM t;" | tr '|' ' ')
	# shellcheck disable=SC2086
	check_rows "$what" $out "$base" "$acked" "$exact"
	echo "${out##* }"
}

pg_check() {
	local base=$1 acked=$2 exact=${3:-} out f
	# It reports problems on stdout; stderr has notices (amcheck is installed).
	out=$("$PG_AMCHECK" -h "$SOCK" -p "$PORT" -U postgres --install-missing --heapallindexed --rootdescend -a 2>>"$W/pg_amcheck.err") ||
		die "pg_amcheck failed: $out $(tail -n 3 "$W/pg_amcheck.err")"
	[ -z "$out" ] || die "pg_amcheck reported: $out"
	out=$(psqlc "SELECT count(*), coalesce(min(id),0), coalesce(max(id),0) FROM t" | tr '|' ' ') || die "psql failed"
	# shellcheck disable=SC2086
	check_rows postgres $out "$base" "$acked" "$exact"
	PG_MAX=${out##* }
	read -r -a f <<<"$(pgbench_summary)"
	[ "${f[1]}" = "${f[4]}" ] && [ "${f[2]}" = "${f[4]}" ] && [ "${f[3]}" = "${f[4]}" ] ||
		die "pgbench balances disagree: accounts ${f[1]} branches ${f[2]} tellers ${f[3]} history ${f[4]}"
}

# check_all ROUND [EXACT_WAL EXACT_DEL EXACT_PG EXACT_PGBENCH]: with
# PostgreSQL running and no writer.
check_all() {
	local r=$1
	WAL_MAX=$(sqlite_check "$DB_WAL" "sqlite (WAL)" "$WAL_MAX" "$(last_ack "$ACKS/wal.$r")" "${2:-}")
	DEL_MAX=$(sqlite_check "$DB_DEL" "sqlite (rollback journal)" "$DEL_MAX" "$(last_ack "$ACKS/del.$r")" "${3:-}")
	pg_check "$PG_MAX" "$(last_ack "$ACKS/pg.$r")" "${4:-}"
	if [ -n "${5:-}" ] && [ "$(pgbench_summary | tr ' ' _)" != "$5" ]; then
		die "pgbench tables after the rewind: $(pgbench_summary), the mark recorded ${5//_/ }"
	fi
}

# ---------------------------------------------------------------- the compaction hook

# compact_hook: TORTURE_COMPACT=auto runs `rewindfs compact` when the
# command exists (`rewindfs compact --help` succeeds), 1 requires it, 0
# never runs it. The daemon compacts in the background on its own too;
# this adds compactions at random moments, under load and just before a
# SIGKILL. It runs in the background and is waited for (or outlived by the
# crash) by the round.
HAVE_COMPACT=0
case "$COMPACT" in
auto) "$RW" compact --help >/dev/null 2>&1 && HAVE_COMPACT=1 ;;
1) "$RW" compact --help >/dev/null 2>&1 || die "TORTURE_COMPACT=1 but rewindfs has no compact command"; HAVE_COMPACT=1 ;;
0) ;;
*) die "TORTURE_COMPACT=$COMPACT: give auto, 1 or 0" ;;
esac
COMPACT_PID=0
compact_hook() {
	[ "$HAVE_COMPACT" = 1 ] || return 0
	"$RW" compact "$MNT" >>"$W/compact.out" 2>&1 &
	COMPACT_PID=$!
	COMPACTS=$((COMPACTS + 1))
}
compact_wait() {
	# A compaction cut short by the daemon's death fails; that is expected.
	[ "$COMPACT_PID" -gt 0 ] && wait "$COMPACT_PID" 2>/dev/null || true
	COMPACT_PID=0
}

# ---------------------------------------------------------------- rewinds

# make_mark ROUND: with the databases stopped, name the sync point and
# record what they hold.
make_mark() {
	local name=round-$1 out lsn
	out=$("$RW" mark "$MNT" "$name" --json) || die "mark failed"
	lsn=$(echo "$out" | json_field lsn)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$lsn" "$(date +%s)" "$WAL_MAX" "$DEL_MAX" "$PG_MAX" "$PGBENCH" >>"$MARKS"
}

# pick_mark: a mark made earlier that is still inside the window (with a
# margin, since compaction moves on while we decide); empty if none.
pick_mark() {
	local win now cands
	win=$(python3 -c "import re,sys; s='$WINDOW'; t=sum(float(n)*{'h':3600,'m':60,'s':1}[u] for n,u in re.findall(r'([0-9.]+)([hms])', s)); print(int(t))")
	now=$(date +%s)
	cands=$(awk -F'\t' -v now="$now" -v win="$win" 'now - $3 < win - 5 {print $1}' "$MARKS" | sed '$d')
	[ -n "$cands" ] || return 0
	echo "$cands" | sed -n "$((RANDOM % $(echo "$cands" | wc -l) + 1))p"
}

# rewind_to NAME: live, with nothing open; then check the exact state.
rewind_to() {
	local name=$1 row target
	row=$(awk -F'\t' -v n="$name" '$1 == n' "$MARKS")
	target=$name
	# Half the time by LSN instead of by name: the same sync point.
	[ $((RANDOM % 2)) = 0 ] && target=$(echo "$row" | cut -f2)
	"$RW" rewind "$MNT" --to "$target" >/dev/null || die "rewind to $name ($target) failed"
	REWINDS=$((REWINDS + 1))
	pg_start
	check_exact "$name"
	say "rewound to $name (LSN $(echo "$row" | cut -f2)): sqlite $WAL_MAX/$DEL_MAX rows, postgres $PG_MAX rows, as recorded"
}

# check_exact NAME: the databases (PostgreSQL running) hold exactly what
# they held when mark NAME was made.
check_exact() {
	local row
	row=$(awk -F'\t' -v n="$1" '$1 == n' "$MARKS")
	WAL_MAX=$(echo "$row" | cut -f4)
	DEL_MAX=$(echo "$row" | cut -f5)
	PG_MAX=$(echo "$row" | cut -f6)
	check_all "none" "$WAL_MAX" "$DEL_MAX" "$PG_MAX" "$(echo "$row" | cut -f7 | tr ' ' _)"
}

# ---------------------------------------------------------------- setup

say "seed $SEED, $SECONDS_BUDGET s, window $WINDOW, compaction hook: $([ "$HAVE_COMPACT" = 1 ] && echo on || echo off), work in $W"
"$RW" init "$VOL" --window "$WINDOW" >/dev/null || die "init failed"
mount_volume
mkdir "$PGDATA"
chown postgres "$PGDATA"
chmod 700 "$PGDATA"
# --no-sync: initdb's files reach the log when it closes them, and the mark
# below makes all of it durable at once.
pg "$INITDB" -D "$PGDATA" -U postgres -A trust --no-locale -E UTF8 --no-sync >"$W/initdb.log" 2>&1 || die "initdb failed (see $W/initdb.log)"
pg_start
psqlc "CREATE TABLE t(id int PRIMARY KEY, pad text NOT NULL)" >/dev/null
"$PGBENCH" -i -s 1 -q -h "$SOCK" -p "$PORT" -U postgres postgres >/dev/null 2>&1 || die "pgbench -i failed"
"$SQLITE3" -batch -bail "$DB_WAL" "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);" >/dev/null
"$SQLITE3" -batch -bail "$DB_DEL" "PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);" >/dev/null
WAL_MAX=0 DEL_MAX=0 PG_MAX=0
PGBENCH=$(pgbench_summary)
# The first mark: PostgreSQL is running, so rewinding to it is like a power
# cut there; everything it committed is in the state the mark names.
make_mark 0
say "set up in $(($(date +%s) - START)) s"

# ---------------------------------------------------------------- rounds

# Each round: load for a random while, then one of
#   crash:  SIGKILL the daemon (sometimes during a compaction), kill the
#           databases as a power cut would, detach, remount, recover, check;
#   rewind: stop cleanly, check, mark, rewind live to an earlier mark
#           (checking its exact state), and half the time forward again;
#   clean:  stop cleanly, check, mark, unmount, verify, remount.
while [ $(($(date +%s) - START)) -lt "$SECONDS_BUDGET" ]; do
	ROUND_START=$(date +%s)
	ROUNDS=$((ROUNDS + 1))
	r=$ROUNDS
	[ "$POSTMASTER" -gt 0 ] || pg_start
	start_load "$r"
	load_ms=$((1500 + RANDOM % 2500))
	if [ $((RANDOM % 3)) = 0 ]; then
		sleep "$(printf '%d.%03d' $((load_ms / 2000)) $((load_ms / 2 % 1000)))"
		compact_hook
		load_ms=$((load_ms / 2))
	fi
	sleep "$(printf '%d.%03d' $((load_ms / 1000)) $((load_ms % 1000)))"
	dice=$((RANDOM % 10)) # 0-4 crash, 5-8 rewind, 9 clean remount
	# However short the run, it crashes once and rewinds once.
	case $r in 1) dice=0 ;; 2) dice=5 ;; esac
	if [ $dice -lt 5 ]; then
		crash_daemon
		CRASHES=$((CRASHES + 1))
		stop_writers kill
		pg_crash
		compact_wait
		detach_dead
		mount_volume
		pg_start
		check_all "$r"
		say "round $r ($(($(date +%s) - ROUND_START)) s): crash after ${load_ms} ms of load; recovered: sqlite $WAL_MAX/$DEL_MAX rows, postgres $PG_MAX rows (acknowledged: $(last_ack "$ACKS/wal.$r")/$(last_ack "$ACKS/del.$r")/$(last_ack "$ACKS/pg.$r"))"
		if [ $((RANDOM % 2)) = 0 ]; then
			# A mark after the recovery: one more place to rewind to.
			PGBENCH=$(pgbench_summary)
			pg_stop
			make_mark "$r"
		fi
		continue
	fi
	stop_writers
	compact_wait
	check_all "$r"
	PGBENCH=$(pgbench_summary)
	pg_stop
	make_mark "$r"
	if [ $dice -lt 9 ] && target=$(pick_mark) && [ -n "$target" ]; then
		say "round $r ($(($(date +%s) - ROUND_START)) s so far): stopped cleanly at sqlite $WAL_MAX/$DEL_MAX rows, postgres $PG_MAX rows; rewinding to $target"
		rewind_to "$target"
		case $((RANDOM % 3)) in
		0)
			# A crash right after the rewind: it was durable when it returned.
			crash_daemon
			CRASHES=$((CRASHES + 1))
			pg_crash
			detach_dead
			mount_volume
			pg_start
			check_exact "$target"
			say "crash after the rewind to $target: still there"
			;;
		1)
			pg_stop
			rewind_to "round-$r" # forward again: the state left behind is still there
			;;
		esac
		PGBENCH=$(pgbench_summary)
		continue
	fi
	clean_unmount
	"$RW" verify "$VOL" >/dev/null || die "verify after a clean unmount failed: $("$RW" verify "$VOL" 2>&1 | tail -n 1)"
	mount_volume
	pg_start
	check_all "$r" "$WAL_MAX" "$DEL_MAX" "$PG_MAX"
	say "round $r ($(($(date +%s) - ROUND_START)) s): clean unmount, verify, remount: sqlite $WAL_MAX/$DEL_MAX rows, postgres $PG_MAX rows"
done

# ---------------------------------------------------------------- the end

if [ "$POSTMASTER" -gt 0 ]; then
	pg_stop
fi
clean_unmount
"$RW" verify "$VOL" >/dev/null || die "final verify failed: $("$RW" verify "$VOL" 2>&1 | tail -n 1)"
say "passed: $ROUNDS rounds ($CRASHES crashes, $REWINDS rewinds, $COMPACTS compactions) in $(($(date +%s) - START)) s; sqlite $WAL_MAX/$DEL_MAX rows, postgres $PG_MAX rows"

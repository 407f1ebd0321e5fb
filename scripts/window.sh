#!/usr/bin/env bash
# window.sh: PostgreSQL under pgbench on a rewindfs volume with a short
# window, for several minutes. Prints, every SAMPLE seconds, the volume's
# size on disk (log and base image) and its window, as a markdown table:
# with compaction the size levels off instead of growing with the run.
# At the end: pgbench must have succeeded, and a rewind to 20 s ago (with
# PostgreSQL stopped) must give a database pg_amcheck finds clean.
#
#   sudo scripts/window.sh                  # 30 s window, 180 s of pgbench
#   WINDOW=30s RUN_SECS=300 SAMPLE=15 sudo scripts/window.sh
#
# Needs root, fuse3 and PostgreSQL 15 (scripts/install.sh).
set -euo pipefail

WINDOW="${WINDOW:-30s}"
RUN_SECS="${RUN_SECS:-180}"
SAMPLE="${SAMPLE:-10}"
SCALE="${SCALE:-10}"
PGBIN=/usr/lib/postgresql/15/bin
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "window.sh: $*" >&2; exit 1; }
[[ "$(id -u)" == 0 ]] || die "run as root (mounts, runs PostgreSQL as postgres)"
[[ -x "$PGBIN/pgbench" ]] || die "PostgreSQL 15 is missing (scripts/install.sh)"

WORK="$(mktemp -d /var/tmp/rewindfs-window.XXXXXX)"
chmod 0755 "$WORK"
VOL="$WORK/vol"; MNT="$WORK/mnt"; SOCK="$WORK/sock"; RW="$WORK/rewindfs"
mkdir -p "$MNT" "$SOCK"; chown postgres: "$SOCK"
PGPID=""

pg() { runuser -u postgres -- "$PGBIN/$@"; }
cleanup() {
	set +e
	[[ -n "$PGPID" ]] && kill "$PGPID" 2>/dev/null && wait "$PGPID" 2>/dev/null
	[[ -f "$MNT/pg/postmaster.pid" ]] && pg pg_ctl -D "$MNT/pg" -m immediate -w -t 60 stop >/dev/null 2>&1
	if findmnt -rn -M "$MNT" >/dev/null; then
		timeout 60 "$RW" unmount "$MNT" >/dev/null 2>&1 || umount -l "$MNT"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

(cd "$ROOT" && go build -o "$RW" ./cmd/rewindfs)
"$RW" init "$VOL" --window "$WINDOW" >/dev/null
"$RW" mount "$VOL" "$MNT" --allow-other
install -d -o postgres -g postgres -m 0700 "$MNT/pg"
pg initdb -D "$MNT/pg" -A trust -U postgres --no-locale -E UTF8 >/dev/null
pgstart() {
	pg pg_ctl -D "$MNT/pg" -l "$SOCK/pg.log" -w -t 300 \
		-o "-k $SOCK -c listen_addresses= -c fsync=on -c shared_buffers=128MB -c max_wal_size=256MB" start >/dev/null
}
pgstart
pg pgbench -i -q -s "$SCALE" -h "$SOCK" postgres >/dev/null 2>&1

size() { du -sb --apparent-size "$VOL" | cut -f1; }
disk() { du -sB1 "$VOL" | cut -f1; }
echo "PostgreSQL under pgbench (scale $SCALE, 4 clients), window $WINDOW, ${RUN_SECS}s; $(date -u +%FT%TZ), $(nproc) cores"
echo
echo "| t (s) | volume on disk (MiB) | log (MiB) | base LSN | earliest restorable | window held | compaction lag (records) |"
echo "|---:|---:|---:|---:|---|---|---:|"
pg pgbench -c 4 -j 2 -T "$RUN_SECS" -h "$SOCK" postgres >"$WORK/pgbench.out" 2>&1 &
PGPID=$!
start=$SECONDS
while kill -0 "$PGPID" 2>/dev/null; do
	st="$("$RW" status "$MNT" --json)"
	printf '| %d | %d | %d | %s | %s | %s | %s |\n' $((SECONDS - start)) $(($(disk) >> 20)) \
		$(($(jq -r .log_bytes <<<"$st") >> 20)) "$(jq -r .base_lsn <<<"$st")" \
		"$(jq -r .earliest_time <<<"$st" | cut -c12-19)" "$(jq -r .window_actual <<<"$st")" "$(jq -r .compaction_lag <<<"$st")"
	sleep "$SAMPLE"
done
rc=0; wait "$PGPID" || rc=$?; PGPID=""
[[ $rc == 0 ]] || die "pgbench failed (exit $rc): $(tail -5 "$WORK/pgbench.out")"
echo
echo "pgbench: $(grep -E '^tps' "$WORK/pgbench.out" | head -1)"

sleep 5
before="$(pg psql -h "$SOCK" -Atc 'select count(*) from pgbench_history' postgres)"
pid="$(head -1 "$MNT/pg/postmaster.pid")"
pg pg_ctl -D "$MNT/pg" -m fast -w -t 300 stop >/dev/null
# The rewound PGDATA has a postmaster.pid naming the old postmaster, and
# PostgreSQL refuses to start while that pid exists (a zombie counts).
for _ in $(seq 600); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
t0=$(date +%s.%N)
"$RW" rewind "$MNT" --to 20s
t1=$(date +%s.%N)
pgstart
after="$(pg psql -h "$SOCK" -Atc 'select count(*) from pgbench_history' postgres)"
pg psql -h "$SOCK" -qc 'create extension if not exists amcheck' postgres >/dev/null
pg pg_amcheck --heapallindexed -h "$SOCK" postgres >"$WORK/amcheck.out" 2>&1 || die "pg_amcheck after the rewind: $(cat "$WORK/amcheck.out")"
echo "rewind to 20 s ago took $(printf '%.2f' "$(echo "$t1 - $t0" | bc)") s; pgbench_history rows $before -> $after; pg_amcheck --heapallindexed clean"
pg pg_ctl -D "$MNT/pg" -m fast -w -t 300 stop >/dev/null

#!/usr/bin/env bash
# demo.sh shows rewindfs's undo button on a SQLite database: it mounts a
# fresh volume, writes 500 orders, runs the DELETE that forgot its WHERE,
# and rewinds the file system to the LSN noted just before it.
#
#   bash scripts/demo.sh
#
# The demo lives in ${REWINDFS_DEMO_DIR:-/var/tmp/rewindfs-demo} (volume/
# and mnt/); an old demo there is unmounted and removed first. The volume
# stays mounted afterwards so you can look around.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
RW="$ROOT/bin/rewindfs"

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}
# run prints a command as a person would type it, then runs it.
run() {
	printf '\n$ %s\n' "$*"
	"$@"
}
# sql runs statements on the demo database, showing them first.
sql() {
	printf '\n$ sqlite3 %s\n' "$DB"
	local line
	while IFS= read -r line; do printf 'sqlite> %s\n' "$line"; done <<<"$1"
	sqlite3 -batch -header -column "$DB" "$1"
}
is_mounted() { findmnt -rn -M "$1" >/dev/null 2>&1; }
# head_lsn prints the mount's head LSN, from rewindfs status --json.
head_lsn() {
	local json lsn
	json="$("$RW" status --json "$MNT")" || die "rewindfs status --json $MNT failed"
	lsn="$(grep -o '"head_lsn": *[0-9]*' <<<"$json" | grep -o '[0-9]*$' || true)"
	[[ "$lsn" =~ ^[0-9]+$ ]] || die "rewindfs status --json $MNT gave no head_lsn: $json"
	echo "$lsn"
}

DEMO="$(realpath -m "${REWINDFS_DEMO_DIR:-/var/tmp/rewindfs-demo}")"
VOL="$DEMO/volume"
MNT="$DEMO/mnt"
DB="$MNT/shop.db"
[[ "$DEMO" != "/" ]] || die "REWINDFS_DEMO_DIR is /: give the demo a directory of its own"

say "step 1: scripts/install.sh"
REWINDFS_SKIP_WEED=1 bash scripts/install.sh # the S3 archive's test server is not needed here

say "step 2: a fresh demo in $DEMO"
if is_mounted "$MNT"; then
	say "unmounting the old demo at $MNT"
	"$RW" unmount "$MNT" || umount -l "$MNT" || die "cannot unmount the old demo at $MNT: unmount it, then run the demo again"
fi
if [[ -d "$DEMO" ]]; then
	# Remove only what a demo made: refuse a directory holding anything else.
	for f in "$DEMO"/* "$DEMO"/.[!.]*; do
		[[ -e "$f" ]] || continue
		case "$(basename "$f")" in
		volume | mnt) ;;
		*) die "$DEMO holds $f, which the demo did not make: set REWINDFS_DEMO_DIR to an empty or new directory" ;;
		esac
	done
	is_mounted "$MNT" && die "$MNT is still mounted"
	rm -rf -- "$VOL" "$MNT"
fi
mkdir -p "$MNT"

run "$RW" init "$VOL"
run "$RW" mount "$VOL" "$MNT"
is_mounted "$MNT" || die "rewindfs mount returned, but nothing is mounted at $MNT"

say "step 3: a small shop on SQLite, in WAL mode, on the mount"
sql "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer TEXT NOT NULL,
  amount_cents INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);"
for batch in 1 2 3 4 5; do
	sql "PRAGMA synchronous=FULL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO orders (customer, amount_cents)
  SELECT 'customer-' || (($batch - 1) * 100 + i), abs(random()) % 10000 FROM n;
COMMIT;"
done
sql "SELECT count(*) AS orders, sum(amount_cents) / 100.0 AS total FROM orders;"

say "step 4: what rewindfs has recorded"
run "$RW" status "$MNT"

say "step 5: the undo button"
head="$(head_lsn)"
say "noted head_lsn $head: every order is in the database there"

say "now the DELETE that forgot its WHERE:"
sql "DELETE FROM orders;"
count="$(sqlite3 -batch "$DB" 'SELECT count(*) FROM orders;')"
sql "SELECT count(*) FROM orders;"
[[ "$count" == 0 ]] || die "expected no orders after the DELETE, found $count"
deleted="$(head_lsn)"

run "$RW" rewind "$MNT" --to "$head"

sql "SELECT count(*) FROM orders;"
count="$(sqlite3 -batch "$DB" 'SELECT count(*) FROM orders;')"
[[ "$count" == 500 ]] || die "expected 500 orders after the rewind to LSN $head, found $count"
check="$(sqlite3 -batch "$DB" 'PRAGMA integrity_check;')"
[[ "$check" == ok ]] || die "SQLite's integrity_check after the rewind says: $check"

printf '\n'
say "the 500 orders are back and SQLite's integrity_check says ok."
say "the volume is still mounted at $MNT: look around with sqlite3 $DB"
say "  history:        $RW log $MNT --sync-points"
say "  rewind forward: $RW rewind $MNT --to $deleted  (back to after the DELETE: nothing is lost)"
say "  unmount:        $RW unmount $MNT"

#!/usr/bin/env bash
# gen-sql.sh writes the SQLite workloads of scripts/bench.sh into DIR, outside
# any mount, so that generating them costs every target the same (nothing):
#
#   gen-sql.sh DIR TXNS BULK_ROWS
#
#   DIR/txn.sql   WAL mode, synchronous=FULL, then TXNS single-row INSERTs,
#                 each its own transaction (autocommit)
#   DIR/bulk.sql  rollback-journal (DELETE) mode, synchronous=FULL, BULK_ROWS
#                 rows in one transaction, then an index build
#
# The rows are deterministic and compressible (repeated words, small numbers),
# like most real table data, so the write-amplification figures of the
# compression settings mean something.
set -euo pipefail
[[ $# -eq 3 ]] || {
	echo "usage: gen-sql.sh DIR TXNS BULK_ROWS" >&2
	exit 2
}
dir="$1" txns="$2" rows="$3"
mkdir -p "$dir"

awk -v n="$txns" 'BEGIN {
	print "PRAGMA journal_mode=WAL;"
	print "PRAGMA synchronous=FULL;"
	print "CREATE TABLE events(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, note TEXT);"
	split("deposit withdrawal transfer fee refund", kinds, " ")
	for (i = 1; i <= n; i++)
		printf "INSERT INTO events(account, kind, amount, note) VALUES(%d, %c%s%c, %d, %cevent %d for account %d%c);\n",
			(i * 7919) % 1000, 39, kinds[i % 5 + 1], 39, (i * 31) % 10000, 39, i, (i * 7919) % 1000, 39
}' >"$dir/txn.sql"

awk -v n="$rows" 'BEGIN {
	print "PRAGMA journal_mode=DELETE;"
	print "PRAGMA synchronous=FULL;"
	print "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT NOT NULL, item TEXT NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL, status TEXT NOT NULL, note TEXT);"
	print "BEGIN;"
	split("apple banana cherry damson elderberry fig grape huckleberry kiwi lemon mango nectarine", items, " ")
	split("new paid shipped delivered returned", states, " ")
	for (i = 1; i <= n; i++)
		printf "INSERT INTO orders VALUES(%d, %ccustomer-%05d%c, %c%s%c, %d, %d.%02d, %c%s%c, %corder %d of customer-%05d, %s box%c);\n",
			i, 39, (i * 7919) % 20000, 39, 39, items[i % 12 + 1], 39, i % 9 + 1, (i * 13) % 200, i % 100,
			39, states[i % 5 + 1], 39, 39, i, (i * 7919) % 20000, items[(i * 5) % 12 + 1], 39
	print "COMMIT;"
	print "CREATE INDEX orders_customer ON orders(customer, item);"
}' >"$dir/bulk.sql"

#!/usr/bin/env bash
# test.sh is rewindfs's test command: it installs what the tests need,
# checks formatting, vets, runs every package's tests with the race
# detector, and fails if a test left a rewindfs mount or daemon behind.
#
#   bash scripts/test.sh
#
# The console shows package results, skips, and the output of failed
# tests; the full verbose log goes to $REWINDFS_TEST_LOG (default
# /tmp/rewindfs-test/go-test.log). With CI=true a missing tool fails the
# tests instead of skipping them (REWINDFS_REQUIRE_TOOLS=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test: %s\n' "$*"; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
if [[ "${CI:-}" == "true" ]]; then
	export REWINDFS_REQUIRE_TOOLS=1
fi
LOG="${REWINDFS_TEST_LOG:-/tmp/rewindfs-test/go-test.log}"
mkdir -p "$(dirname "$LOG")"

failed=()

# rewindfs_mounts lists the mount points of rewindfs file systems.
rewindfs_mounts() { findmnt -rn -t fuse.rewindfs -o TARGET 2>/dev/null || true; }
# rewindfs_pids lists the pids of processes named rewindfs (the daemon).
rewindfs_pids() { pgrep -x rewindfs 2>/dev/null || true; }
# cmdline prints a process's command line, or "gone".
cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || echo gone; }

say "step 1/4: scripts/install.sh"
bash scripts/install.sh

# The tests' temporary directories (t.TempDir, os.MkdirTemp) go under
# TEST_TMP, so what they leave behind can be told from anything else on the
# machine: a demo, or another checkout's test run. Its name is short: a
# unix socket's path (the daemon's control.sock in a test's volume) must
# fit in 107 bytes. Databases run as other users must reach their files,
# hence 0755.
TEST_TMP="$(mktemp -d /tmp/rwt.XXXXXX)"
chmod 0755 "$TEST_TMP"

say "step 2/4: gofmt -l"
unformatted="$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)"
if [[ -n "$unformatted" ]]; then
	say "these files need gofmt -w:"
	mapfile -t files <<<"$unformatted"
	printf '  %s\n' "${files[@]}"
	failed+=("gofmt")
fi

say "step 3/4: go vet ./..."
if ! go vet ./...; then
	failed+=("go vet")
fi

# show_readable turns go test -v output into what a person wants to read:
# package results, skips with their reason, and the whole output of each
# failed test (its lines are held until the test ends, since -v streams
# them as they come). Build errors and panics pass through.
show_readable() {
	awk '
	/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
	/^ *--- (FAIL|SKIP): / {
		name = $3
		print
		if (name in buf) {
			# Indent the lines of the test under its result line.
			match($0, /^ */)
			n = split(buf[name], lines, "\n")
			for (i = 1; i < n; i++) print substr($0, 1, RLENGTH) lines[i]
			delete buf[name]
		}
		next
	}
	/^ *--- PASS: / { delete buf[$3]; next }
	/^(ok|FAIL|\?)[ \t]/ || /^FAIL$/ { print; inpanic = 0; cur = ""; next }
	/^PASS$/ { next }
	/^WARNING: DATA RACE/ { inrace = 1; print "=================="; }
	inrace { print; if ($0 ~ /^==================$/) inrace = 0; next }
	/^panic: / || /^fatal error: / { inpanic = 1; panicked = 0 }
	inpanic { if (panicked++ < 300) print; next }
	/^# / || /^[^ \t=].*\.go:[0-9]+:[0-9]+: / { print; next }
	cur != "" { buf[cur] = buf[cur] $0 "\n"; next }
	{ print }
	'
}

say "step 4/4: go test -race -count=1 -timeout 40m ./... (full log: $LOG)"
set +e
TMPDIR="$TEST_TMP" go test -race -count=1 -timeout 40m -v ./... 2>&1 | tee "$LOG" | show_readable
test_rc=${PIPESTATUS[0]}
set -e
if [[ $test_rc -ne 0 ]]; then
	failed+=("go test")
fi

# A test must unmount what it mounted and stop what it started. Mounts
# under TEST_TMP, and rewindfs processes naming it, are the tests' own.
leftover=0
while IFS= read -r m; do
	[[ -n "$m" && "$m" == "$TEST_TMP"/* ]] || continue
	say "a test left a rewindfs mount at $m: umount -l"
	umount -l -- "$m" || say "umount -l $m failed"
	leftover=1
done <<<"$(rewindfs_mounts)"
left_pids=()
while IFS= read -r pid; do
	[[ -n "$pid" ]] || continue
	cmd="$(cmdline "$pid")"
	[[ "$cmd" == *"$TEST_TMP"/* ]] || continue
	say "a test left a rewindfs process running: pid $pid: $cmd"
	kill -TERM "$pid" 2>/dev/null || true
	left_pids+=("$pid")
	leftover=1
done <<<"$(rewindfs_pids)"
for pid in "${left_pids[@]}"; do
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "pid $pid ignored SIGTERM for 5s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
done
if [[ $leftover -ne 0 ]]; then
	failed+=("leftover mounts or daemons")
fi
# Remove the tests' files, never through a mount that is still there.
if findmnt -rn -o TARGET | grep -qF -- "$TEST_TMP/"; then
	say "mounts remain under $TEST_TMP: leaving it in place"
	failed+=("mounts that would not go")
else
	rm -rf --one-file-system -- "$TEST_TMP"
fi

passed=$(grep -cE '^ *--- PASS: ' "$LOG" || true)
nfailed=$(grep -cE '^ *--- FAIL: ' "$LOG" || true)
skipped=$(grep -cE '^ *--- SKIP: ' "$LOG" || true)
say "full log: $LOG"
if [[ ${#failed[@]} -gt 0 ]]; then
	printf -v list '%s, ' "${failed[@]}"
	say "FAILED: ${list%, }"
else
	say "all passed"
fi
# The counts close the output, as a test runner's summary does.
echo "tests: $passed passed, $nfailed failed, $skipped skipped"
[[ ${#failed[@]} -eq 0 ]]

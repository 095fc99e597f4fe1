#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, .venv, npm assets) and runs the whole
# suite: linters, type checks, unit, integration and real-browser end-to-end tests.
# Extra arguments go to pytest (e.g. -k consult).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_setup.sh
apt_install chromium redis-server redis-sentinel postgresql coturn iproute2 nftables prometheus janus
setup_python "[test]"
setup_assets

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy
echo "==> import-linter (layers: docs/architecture.md)"
.venv/bin/lint-imports --no-cache
echo "==> hadolint"
.venv/bin/hadolint Dockerfile
echo "==> pytest"
# The suite in three parts (--part, tests/conftest.py), so that it fits in about 12 minutes on two
# cores without a browser beside the tests that time a weak link:
#  1. the weak-link tests (marker link_timing), one at a time: they judge a link by how media behaves
#     over tens of seconds, and another Chromium beside them takes the CPU they time (a clean link's
#     video paused for 2 s when they overlapped). They use about one core of two.
#  2. at the same time, niced, the tests that drive no browser, on two workers that each take the
#     next test as soon as they are free (worksteal): the kernel gives them what part 1 leaves.
#  3. then the other browser tests, on two workers. Tests wait on conditions, not on each other,
#     and own their ports, network namespaces and data directories.
# pytest's exit status 5 means "no test selected", which extra arguments such as -k can cause in a
# part; the suite fails if a part fails, or if no part selected anything.
weak_log="$(mktemp)"
weak_pid=""
# The weak-link part runs in its own process group (setsid), so that an interrupted run ends it
# with its browsers too: a background job of a script does not get the terminal's Ctrl-C.
stop_weak() {
    if [ -n "$weak_pid" ]; then
        kill -TERM -- "-$weak_pid" 2>/dev/null || true
    fi
    rm -f "$weak_log"
}
trap stop_weak EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
weak=0
setsid .venv/bin/python -m pytest -n 1 --part link-timing "$@" > "$weak_log" 2>&1 &
weak_pid=$!
rest=0
nice -n 19 .venv/bin/python -m pytest -n 2 --dist worksteal --part rest "$@" || rest=$?
wait "$weak_pid" || weak=$?
weak_pid=""
echo "==> pytest: the weak-link tests (they ran beside the tests above)"
cat "$weak_log"
echo "==> pytest: the other browser tests"
browsers=0
.venv/bin/python -m pytest -n 2 --dist worksteal --part browsers "$@" || browsers=$?
for status in "$weak" "$rest" "$browsers"; do
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        exit "$status"
    fi
done
if [ "$weak" -eq 5 ] && [ "$rest" -eq 5 ] && [ "$browsers" -eq 5 ]; then
    exit 5
fi

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
# Two runs. First everything but the weak-link tests, on two workers (one per core), each worker
# taking the next test as soon as it is free (worksteal): browser, media and multi-node tests wait
# on conditions, not on each other, and own their ports, network namespaces and data directories.
# Then the weak-link tests (marker link_timing), one at a time with the machine to themselves: they
# judge a link by how media behaves over tens of seconds, and a second Chromium beside them takes
# the CPU they time (a clean link's video paused for 2 s when they overlapped).
# pytest's exit status 5 means "no test selected", which extra arguments such as -k can cause in
# one run; the suite fails only if a run fails, or if neither selected anything.
rest=0
.venv/bin/python -m pytest -n 2 --dist worksteal --link-timing exclude "$@" || rest=$?
echo "==> pytest: the weak-link tests, alone"
weak=0
.venv/bin/python -m pytest -n 1 --link-timing only "$@" || weak=$?
for status in "$rest" "$weak"; do
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        exit "$status"
    fi
done
if [ "$rest" -eq 5 ] && [ "$weak" -eq 5 ]; then
    exit 5
fi

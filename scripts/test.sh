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
# Two workers, one per core: browser, media and multi-node tests wait on conditions, not on
# each other (network namespaces, ports and data directories are per test).
exec .venv/bin/python -m pytest -n 2 "$@"

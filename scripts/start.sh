#!/usr/bin/env bash
# Installs Teleconsulta into .venv and starts it with embedded defaults and a demo:
# in-memory rooms, a SQLite file for records, media in its own worker processes. Prints the nurse login and a
# patient link. Extra arguments go to `teleconsulta serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_setup.sh
setup_python ""
setup_assets
exec .venv/bin/teleconsulta serve --demo "$@"

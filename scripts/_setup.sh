# Shared set-up for scripts/start.sh and scripts/test.sh: a virtualenv in .venv and the npm assets.
# Sourced, not run. Needs Python 3.11 and, when something is missing, root (or sudo) for apt-get.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  # Installs only the Debian packages that are missing, updating the package lists once.
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

python_311() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Teleconsulta needs Python 3.11 (python3.11 or python3 on PATH)." >&2
  return 1
}

setup_python() {
  local extras="$1"
  local python
  python=$(python_311)
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    if ! "$python" -m venv .venv 2>/dev/null; then
      apt_install python3-venv
      rm -rf .venv
      "$python" -m venv .venv
    fi
  fi
  echo "==> pip install -e .${extras}"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
}

setup_assets() {
  if ! command -v npm >/dev/null; then apt_install nodejs npm; fi
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "==> npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

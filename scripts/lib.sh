# shellcheck shell=bash disable=SC2034
# SC2034 is off because the variables set here are used by the scripts that source this file.
# Shared functions of scripts/setup and scripts/test; source it, do not run it.
# Callers set `set -euo pipefail` first. Every function is safe to call again (idempotent).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
TOOLS="$REPO_ROOT/.tools"

# Debian packages the panel uses in the local profile today.
PANEL_PACKAGES=(
  python3-venv
  nginx php-fpm php-cli pdns-server pdns-backend-sqlite3 redis-server
  curl ca-certificates dnsutils
)
# Debian packages only the tests use: Pebble is the ACME server the certificate tests order from.
TEST_PACKAGES=(pebble)
# Needed only when pip finds no wheel for a dependency and compiles it.
BUILD_PACKAGES=(build-essential python3-dev)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }
is_debian() { [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }

package_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

APT_UPDATED=0

# Install the Debian packages among the arguments that are not installed yet.
# Without root or off Debian, print the command to run instead and return 1.
apt_install_missing() {
  local missing=() package
  if ! is_debian; then
    warn "not a Debian or Ubuntu system: install the equivalents of these packages yourself: $*"
    return 1
  fi
  for package in "$@"; do
    package_installed "$package" || missing+=("$package")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  if ! is_root; then
    warn "not root, so these Debian packages were not installed: ${missing[*]}"
    warn "install them with: sudo apt-get install ${missing[*]}"
    return 1
  fi
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q ||
      die "apt-get update failed; check the apt sources and the network, then run again"
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install ${missing[*]} failed; see the apt output above"
}

# Print the path of a python3 of version 3.11 or newer, preferring plain `python3`.
find_python() {
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Create .venv if needed and install the project into it, editable, with the given extras
# ("" or "test"). A stamp per extras records the hash of pyproject.toml, so a re-run with an
# unchanged pyproject.toml skips pip.
ensure_venv() {
  local extras="$1" python stamp digest target
  if [[ -x "$VENV/bin/python" ]] &&
    ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    die "$VENV uses a Python older than 3.11 or no longer runs; delete it (rm -rf .venv) and run again"
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    python="$(find_python)" ||
      die "no python3 of version 3.11 or newer found on PATH; install one (Debian 12: apt-get install python3 python3-venv) and run again"
    log "creating $VENV with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV" ||
      die "python -m venv failed; on Debian install python3-venv (apt-get install python3-venv) and run again"
  fi

  digest="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
  stamp="$VENV/.wispanel-installed-${extras:-base}"
  # The test extras include everything the base install has.
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]] ||
    [[ -z "$extras" && -f "$VENV/.wispanel-installed-test" &&
      "$(cat "$VENV/.wispanel-installed-test")" == "$digest" ]]; then
    log "$VENV is up to date with pyproject.toml"
    return 0
  fi
  target="$REPO_ROOT"
  if [[ -n "$extras" ]]; then
    target="${REPO_ROOT}[$extras]"
  fi
  log "pip install -e '$target'"
  if ! pip_install_editable "$target"; then
    # A dependency without a wheel for this platform compiles: add a compiler and the
    # Python headers, then try once more.
    apt_install_missing "${BUILD_PACKAGES[@]}" ||
      die "pip install -e '$target' failed; if a package failed to compile, install ${BUILD_PACKAGES[*]} and run again"
    pip_install_editable "$target" ||
      die "pip install -e '$target' failed; see pip's output above"
  fi
  printf '%s\n' "$digest" >"$stamp"
}

pip_install_editable() {
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -e "$1"
}

# Print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run the given command every half second until it succeeds or $1 seconds have passed.
wait_for() {
  local seconds="$1" deadline
  shift
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.5
  done
}

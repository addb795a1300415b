#!/usr/bin/env bash
# Install tallywatch on a Debian/Ubuntu server as a hardened systemd service. Idempotent.
#
#   sudo deploy/install.sh                # install or upgrade, enable and start
#   sudo deploy/install.sh --uninstall    # stop and remove the service and the program
#   sudo deploy/install.sh --uninstall --purge   # …and the config, credentials and state
#
# Layout: the program in /opt/tallywatch (a virtual environment), the config in /etc/tallywatch
# (tallywatch.toml, credentials/ for LoadCredential), the state (SQLite) in /var/lib/tallywatch,
# and /usr/local/bin/tallywatch: the commands for the admin, on the service's config and database.
# For tests: ROOT=/some/dir installs under that directory, --no-systemd skips systemctl.
set -euo pipefail

ROOT="${ROOT:-}"
PREFIX="$ROOT/opt/tallywatch"
CONF="$ROOT/etc/tallywatch"
UNIT_DIR="$ROOT/etc/systemd/system"
BIN_DIR="$ROOT/usr/local/bin"
STATE="$ROOT/var/lib/tallywatch"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
PIP="${PIP:-$PREFIX/.venv/bin/pip}"                      # tests: PIP=true (no download)
TALLYWATCH="${TALLYWATCH:-$PREFIX/.venv/bin/tallywatch}"  # tests: an installed tallywatch
SYSTEMD=1
ACTION=install
PURGE=0
for arg in "$@"; do
  case "$arg" in
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    --no-systemd) SYSTEMD=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'tallywatch install: %s\n' "$*"; }
systemctl_() { if [ "$SYSTEMD" = 1 ]; then systemctl "$@"; else say "(skipped) systemctl $*"; fi; }

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi

if [ "$ACTION" = uninstall ]; then
  systemctl_ disable --now tallywatch.service || true
  rm -f "$UNIT_DIR/tallywatch.service" "$BIN_DIR/tallywatch"
  systemctl_ daemon-reload || true
  rm -rf "$PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$CONF" "$ROOT/var/lib/tallywatch" "$ROOT/var/lib/private/tallywatch"
    say "removed the program, the config and the state"
  else
    say "removed the program; config kept in $CONF, state in /var/lib/tallywatch (--purge removes them)"
  fi
  exit 0
fi

if ! python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  if [ -z "$ROOT" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv
  else
    echo "install.sh: Python 3.11 or newer with venv is needed" >&2
    exit 1
  fi
fi

mkdir -p "$PREFIX" "$CONF/credentials" "$UNIT_DIR" "$BIN_DIR"
chmod 755 "$CONF"
chmod 700 "$CONF/credentials"
# the program: a fresh copy of the source, then an upgrade of the virtual environment in place
rm -rf "$PREFIX/src" "$PREFIX/docs"
cp -a "$SRC/src" "$SRC/docs" "$SRC/pyproject.toml" "$SRC/README.md" "$PREFIX/"
[ -d "$PREFIX/.venv" ] || python3 -m venv "$PREFIX/.venv"
# shellcheck disable=SC2086 # PIP_ARGS holds several options on purpose
"$PIP" install -q ${PIP_ARGS:-} --upgrade "$PREFIX"
# the service runs with PYTHONOPTIMIZE=2 (no docstrings in memory: about 4 MB less resident) and
# may not write bytecode: compile it once here, at that level
"$PREFIX/.venv/bin/python" -OO -m compileall -q "$PREFIX/.venv/lib" >/dev/null
# the config: the example on the first install only, never overwritten. World-readable: the
# service's DynamicUser must read it, and it holds no secret (those are in credentials/, mode 600)
if [ ! -f "$CONF/tallywatch.toml" ]; then
  install -m 644 "$SRC/config/tallywatch.example.toml" "$CONF/tallywatch.toml"
  say "wrote $CONF/tallywatch.toml from the example: edit it, then: systemctl reload tallywatch"
fi
chmod 644 "$CONF/tallywatch.toml"  # an install before this one made it 640, unreadable to the service
# the admin's tallywatch: `tallywatch status`, `sources`, `subscribers`, `backup` … on the service's
# own config and database. Under systemd it runs as the service's user (the same DynamicUser, its
# credentials and state directory), so what it writes stays the service's; elsewhere, directly.
cat > "$BIN_DIR/tallywatch" <<WRAPPER
#!/bin/sh
# written by deploy/install.sh: tallywatch on the service's config ($CONF) and state ($STATE)
if [ "\$(id -u)" = 0 ] && [ -d /run/systemd/system ] && [ -z "$ROOT" ]; then
  exec systemd-run --quiet --pipe --wait --collect --service-type=exec \\
    -p DynamicUser=yes -p User=tallywatch -p StateDirectory=tallywatch -p StateDirectoryMode=0700 \\
    -p LoadCredential=telegram_token:$CONF/credentials/telegram_token \\
    -p LoadCredential=smtp_password:$CONF/credentials/smtp_password \\
    -p LoadCredential=webhook_secret:$CONF/credentials/webhook_secret \\
    -E TALLYWATCH_CONFIG=$CONF/tallywatch.toml -E PYTHONOPTIMIZE=2 -E PYTHONDONTWRITEBYTECODE=1 \\
    $PREFIX/.venv/bin/tallywatch "\$@"
fi
TALLYWATCH_CONFIG="$CONF/tallywatch.toml" STATE_DIRECTORY="$STATE" exec "$TALLYWATCH" "\$@"
WRAPPER
chmod 755 "$BIN_DIR/tallywatch"
for name in telegram_token smtp_password webhook_secret; do
  # LoadCredential needs the files; an empty one means "not set"
  [ -f "$CONF/credentials/$name" ] || install -m 600 /dev/null "$CONF/credentials/$name"
done
install -m 644 "$SRC/deploy/tallywatch.service" "$UNIT_DIR/tallywatch.service"
"$TALLYWATCH" config check --config "$CONF/tallywatch.toml" >/dev/null
systemctl_ daemon-reload
systemctl_ enable tallywatch.service
systemctl_ restart tallywatch.service
say "installed; systemctl status tallywatch, journalctl -u tallywatch, curl 127.0.0.1:9467/healthz"

#!/usr/bin/env bash
# Installs the Debian packages the test suite needs on a clean machine (as root, with apt):
#   systemd-container  tests/ops/test_systemd_container.py boots the units under a real systemd
#   python3-venv       ... and builds the bot's venv inside from Debian's python3
# Prints what is missing (and changes nothing) when it cannot install.
set -euo pipefail
packages=()
command -v systemd-nspawn >/dev/null 2>&1 || packages+=(systemd-container)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
    echo "system-deps: missing ${packages[*]} (run as root with apt to install them); the tests that need them skip and say why" >&2
fi

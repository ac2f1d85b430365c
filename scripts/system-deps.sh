#!/usr/bin/env bash
# Installs the Debian packages the test suite needs on a clean machine (as root, with apt):
#   systemd-container  tests/ops/test_systemd_container.py boots the units under a real systemd
#   python3-venv       ... and builds the bot's venv inside from Debian's python3
#   promtool           tests/ops/test_prometheus_rules.py checks and unit-tests the shipped alert
#                      rules with it. Taken out of Debian's `prometheus` package (apt-get download,
#                      then only /usr/bin/promtool into /usr/local/bin): installing the package
#                      would also install and start a Prometheus server (init script, unit), which
#                      the systemd container test would then boot too.
#   chromium, chromium-driver
#                      tests/ops/test_dashboard_browser.py loads the status page in a real headless
#                      Chromium through /usr/bin/chromedriver (17-37 s to install here; no browser
#                      is ever downloaded by the tests themselves)
# Prints what is missing (and changes nothing) when it cannot install.
set -euo pipefail
packages=()
command -v systemd-nspawn >/dev/null 2>&1 || packages+=(systemd-container)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
need_promtool=0
command -v promtool >/dev/null 2>&1 || need_promtool=1
[ ${#packages[@]} -eq 0 ] && [ "$need_promtool" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    missing="${packages[*]}"
    [ "$need_promtool" -eq 1 ] && missing="${missing:+$missing }promtool (from prometheus)"
    echo "system-deps: missing $missing (run as root with apt to install them); the tests that need them skip and say why" >&2
    exit 0
fi
apt-get update -qq
if [ ${#packages[@]} -gt 0 ]; then
    echo "system-deps: installing ${packages[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
if [ "$need_promtool" -eq 1 ]; then
    echo "system-deps: installing promtool from Debian's prometheus package" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    chmod 0755 "$tmp"  # apt's sandbox user (_apt) writes the download here
    (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null)
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
    install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
fi

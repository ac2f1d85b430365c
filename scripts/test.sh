#!/usr/bin/env bash
# The whole test suite: installs the system packages the tests need (as root, with apt), sets up
# .venv with the test extras, lints, checks the import contracts, runs pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/system-deps.sh
scripts/setup-venv.sh --test
# Where the system packages could be installed (root with apt, as on CI), the real-systemd
# container test and the real-browser dashboard test must run: not being able to boot the
# container or start chromium is a failure, not a skip.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export SOLBOT_REQUIRE_SYSTEMD_TEST="${SOLBOT_REQUIRE_SYSTEMD_TEST:-1}"
    export SOLBOT_REQUIRE_PROMTOOL="${SOLBOT_REQUIRE_PROMTOOL:-1}"  # ... and so must the promtool checks
    export SOLBOT_REQUIRE_BROWSER_TEST="${SOLBOT_REQUIRE_BROWSER_TEST:-1}"
fi
.venv/bin/ruff check .
.venv/bin/lint-imports pyproject.toml
exec .venv/bin/python -m pytest "$@"

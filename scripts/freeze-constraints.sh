#!/usr/bin/env bash
# Writes constraints.txt: the exact version of every package in .venv (the bot's dependencies and
# the test extra, direct and transitive), taken from a venv that has just passed the test suite.
# scripts/setup-venv.sh and scripts/install.sh install with `-c constraints.txt`, so CI, a
# developer's .venv and a server get the versions that were tested. tests/test_constraints.py
# checks that the file pins everything the installed set needs.
#
# Usage: scripts/freeze-constraints.sh [--upgrade] [--no-tests]
#   --upgrade    first move .venv to the newest versions pyproject.toml allows (the current pins
#                are ignored), then test and pin those
#   --no-tests   pin without running the tests (only right after scripts/test.sh passed on this .venv)
# Commit constraints.txt together with the pyproject.toml change that needed it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
upgrade=0
tests=1
while [ $# -gt 0 ]; do
    case "$1" in
        --upgrade) upgrade=1; shift ;;
        --no-tests) tests=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "freeze-constraints.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

scripts/setup-venv.sh --test
if [ "$upgrade" -eq 1 ]; then
    echo "freeze-constraints: upgrading .venv to the newest versions pyproject.toml allows" >&2
    .venv/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]" >&2
fi
if [ "$tests" -eq 1 ]; then
    echo "freeze-constraints: running the test suite on this .venv before pinning it" >&2
    .venv/bin/ruff check .
    .venv/bin/lint-imports pyproject.toml >/dev/null
    .venv/bin/python -m pytest -q -x
fi

frozen="$(.venv/bin/python -m pip freeze --exclude-editable)"
if grep -E ' @ |^-e ' <<<"$frozen" >&2; then
    echo "freeze-constraints: the lines above are not index versions (a local path or VCS checkout); reinstall those packages from the index first" >&2
    exit 2
fi
python_version="$(.venv/bin/python -c 'import platform, sysconfig; print(platform.python_version(), sysconfig.get_platform())')"
{
    echo "# Exact versions from a .venv that passed the test suite: scripts/freeze-constraints.sh"
    echo "# ($(date -u +%Y-%m-%d), Python $python_version). Used as pip -c by scripts/setup-venv.sh and"
    echo "# scripts/install.sh; tests/test_constraints.py checks it covers every installed dependency."
    echo "$frozen"
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "freeze-constraints: wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)" >&2

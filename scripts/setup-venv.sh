#!/usr/bin/env bash
# Creates .venv in the repository root (if missing) and installs solbot into it.
# Usage: scripts/setup-venv.sh [--test]   (--test also installs the test extras)
# Versions come from constraints.txt (pinned from a venv that passed the tests by
# scripts/freeze-constraints.sh), so every .venv gets what CI tested.
# Idempotent: re-running only reinstalls when pyproject.toml or constraints.txt changed since the
# last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "solbot needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1). Set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
if [ ! -x .venv/bin/python ]; then
    echo "creating virtual environment in $root/.venv" >&2
    "$python" -m venv .venv
fi
stamp=".venv/.solbot-installed${extras}"
constraints=()
[ -f constraints.txt ] && constraints=(-c constraints.txt)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] \
        || [ ! -x .venv/bin/solbot ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet "${constraints[@]}" -e ".${extras}" >&2
    touch "$stamp"
fi

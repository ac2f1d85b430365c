#!/usr/bin/env bash
# The whole test suite: sets up .venv with test extras, lints, checks the import contracts, runs pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-venv.sh --test
.venv/bin/ruff check .
.venv/bin/lint-imports pyproject.toml
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# The bot's main job: paper trading with the default config (config/trading.toml).
# Sets up .venv on first use, then runs `solbot run`. Extra arguments go to solbot, e.g.
#   scripts/run.sh --config my.toml
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-venv.sh
config=()
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --config) config=(--config "$2"); shift 2 ;;
        --config=*) config=("$1"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done
exec .venv/bin/solbot "${config[@]}" run "${args[@]}"

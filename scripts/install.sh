#!/usr/bin/env bash
# Installs solbot as a systemd service:
#   - a system user and group "solbot" (no login shell, home /var/lib/solbot)
#   - the package into a virtual environment at /opt/solbot/.venv
#   - the units solbot.service, solbot-healthcheck.service and .timer, solbot-backup.service and
#     .timer into /etc/systemd/system
#   - /etc/solbot/trading.toml and /etc/solbot/solbot.env (mode 0600), only if absent: an existing
#     config or secrets file is never overwritten
# and prints the next steps. Safe to run again: it upgrades the package (the versions pinned in
# constraints.txt, which CI tested) and the units, then runs `solbot check-config --diff` on the
# config and secrets with the version just installed (listing the keys the config leaves to the
# defaults and any it sets that this version does not have) and restarts a running solbot.service
# only when that passes. When it fails, the bot is not restarted and install.sh exits 2.
#
# Usage: sudo scripts/install.sh [--prefix DIR] [--dry-run] [--no-venv] [--python PY] [--pip-args "ARGS"]
#   --prefix DIR   install under DIR instead of / (staging, packaging, tests); the user is not
#                  created, nothing is chowned and systemd is not reloaded
#   --dry-run      print what would be done, change nothing
#   --no-venv      do not create the venv or install the package (you manage /opt/solbot/.venv)
#   --python PY    interpreter for the venv (default: python3; needs 3.11+). It must not live under
#                  /root, /home or /run/user (pyenv, conda...): the units run with ProtectHome=yes,
#                  which hides those, so the bot would fail with 203/EXEC. Debian: /usr/bin/python3
#                  (apt install python3-venv)
#   --pip-args A   extra pip arguments, e.g. "--no-index --find-links /srv/wheels" for offline hosts
#                  (the wheels must include the versions in constraints.txt)
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=""
dry_run=0
no_venv=0
python="python3"
pip_args=""
user="solbot"

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --dry-run) dry_run=1; shift ;;
        --no-venv) no_venv=1; shift ;;
        --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
        --pip-args) pip_args="${2?--pip-args needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
prefix="${prefix%/}"
real_root=0
[ -z "$prefix" ] && real_root=1

run() {
    echo "+ $*"
    [ "$dry_run" -eq 1 ] || "$@"
}

# Refuses (one line, exit 2) an interpreter systemd cannot run under ProtectHome=yes: the binary a
# venv made from it runs, or its standard library, under /root, /home or /run/user. Asks the
# interpreter itself, so shims (pyenv) and venvs resolve to where the code really is. Read-only:
# also runs with --dry-run.
check_python() {  # check_python INTERPRETER WHAT
    local where p
    if ! where="$("$1" -c 'import os, sys
print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
print(os.path.realpath(sys.base_prefix))' 2>/dev/null)"; then
        echo "install.sh: cannot run $2 $1 (see --python)" >&2
        exit 2
    fi
    while IFS= read -r p; do
        case "$p/" in
            /root/*|/home/*|/run/user/*)
                echo "install.sh: $2 $1 lives in $p, which solbot.service cannot see (ProtectHome=yes: it would fail with 203/EXEC); use an interpreter outside /root and /home, e.g. --python /usr/bin/python3" >&2
                exit 2 ;;
        esac
    done <<<"$where"
}

if [ "$real_root" -eq 1 ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo), or use --prefix DIR / --dry-run" >&2
    exit 2
fi

opt="$prefix/opt/solbot"
etc="$prefix/etc/solbot"
state="$prefix/var/lib/solbot"
units="$prefix/etc/systemd/system"

# 0. before changing anything: an interpreter the units can run
if [ "$no_venv" -eq 0 ]; then
    if [ -x "$opt/.venv/bin/python" ]; then
        check_python "$opt/.venv/bin/python" "the existing venv's interpreter"
    else
        check_python "$python" "the interpreter"
    fi
fi

# 1. user and group
if [ "$real_root" -eq 1 ]; then
    if getent passwd "$user" >/dev/null 2>&1; then
        echo "= user $user exists"
    else
        run useradd --system --user-group --home-dir /var/lib/solbot --no-create-home \
            --shell /usr/sbin/nologin "$user"
    fi
else
    echo "= --prefix: not creating user $user"
fi

# 2. directories
run install -d -m 0755 "$opt" "$units"
run install -d -m 0750 "$etc"
run install -d -m 0700 "$state"
if [ "$real_root" -eq 1 ]; then
    run chown "root:$user" "$etc"
    run chown "$user:$user" "$state"
fi

# 3. the package in a venv
if [ "$no_venv" -eq 1 ]; then
    echo "= --no-venv: not installing the package"
else
    if [ -x "$opt/.venv/bin/python" ]; then
        echo "= venv $opt/.venv exists"
    else
        run "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "solbot needs Python 3.11+")'
        run "$python" -m venv "$opt/.venv"
    fi
    # the versions CI tested (scripts/freeze-constraints.sh pins them from a venv that passed)
    constraints=()
    [ -f "$src/constraints.txt" ] && constraints=(-c "$src/constraints.txt")
    # shellcheck disable=SC2086  # pip_args is a list of words on purpose
    run "$opt/.venv/bin/python" -m pip install --quiet --upgrade $pip_args "${constraints[@]}" "$src"
    # solbot.service skips polars' import-time CPU check (POLARS_SKIP_CPU_CHECK=1: the check needs
    # writable+executable memory, which MemoryDenyWriteExecute=yes forbids), so run it here once.
    if ! run env -u POLARS_SKIP_CPU_CHECK "$opt/.venv/bin/python" \
            -W "error:Missing required CPU features:RuntimeWarning" -c 'import polars'; then
        echo "install.sh: polars cannot run on this CPU (see above); the service would crash" >&2
        exit 2
    fi
fi
run install -m 0644 "$src/README.md" "$opt/README.md"

# 4. units (always updated)
for unit in solbot.service solbot-healthcheck.service solbot-healthcheck.timer \
            solbot-backup.service solbot-backup.timer; do
    run install -m 0644 "$src/systemd/$unit" "$units/$unit"
done

# 5. config and secrets, never overwritten
if [ -e "$etc/trading.toml" ]; then
    echo "= $etc/trading.toml exists, kept"
else
    run install -m 0640 "$src/config/trading.toml" "$etc/trading.toml"
    [ "$real_root" -eq 1 ] && run chown "root:$user" "$etc/trading.toml"
fi
if [ -e "$etc/solbot.env" ]; then
    echo "= $etc/solbot.env exists, kept"
else
    run install -m 0600 "$src/.env.example" "$etc/solbot.env"
fi

# 6. systemd
systemd=0
if [ "$real_root" -eq 1 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemd=1
    run systemctl daemon-reload
fi

# 7. the config and secrets must load with the version now installed; only then is a running bot
#    restarted into it (a config that fails would stop it for good: exit 2 is not retried)
solbot="$opt/.venv/bin/solbot"
check=("$solbot" --config "$etc/trading.toml" check-config --diff --env-file "$etc/solbot.env")
if [ -x "$solbot" ] || [ "$dry_run" -eq 1 ]; then
    echo "+ ${check[*]}"
    if [ "$dry_run" -eq 0 ] && ! "${check[@]}"; then
        echo "install.sh: $etc/trading.toml or $etc/solbot.env does not load with the version just installed (see above); solbot.service was NOT restarted: fix the file, check it with: ${check[*]}; then: systemctl restart solbot.service" >&2
        exit 2
    fi
else
    echo "= no $solbot: config not checked (--no-venv and no venv there)"
fi
if [ "$systemd" -eq 1 ] && systemctl is-active --quiet solbot.service; then
    echo "= solbot.service is running: restarting it into the version just installed"
    run systemctl restart solbot.service
fi

cat <<NEXT

solbot is installed${prefix:+ under $prefix}. Next steps:
  1. Put the secrets in /etc/solbot/solbot.env (root-only, mode 0600): TELEGRAM_BOT_TOKEN,
     TELEGRAM_ALLOWED_CHAT_IDS, API keys; for live trading SOLBOT_KEYPAIR=/etc/solbot/wallet.json
     (that file: owner $user, mode 0600).
  2. Review /etc/solbot/trading.toml (execution_mode stays "paper" until you change it), then:
       sudo -u $user /opt/solbot/.venv/bin/solbot --config /etc/solbot/trading.toml check-config
  3. Start it, the health check and the daily ledger backup:
       sudo systemctl enable --now solbot.service solbot-healthcheck.timer solbot-backup.timer
  4. Watch it:  journalctl -u solbot -f     and
       /opt/solbot/.venv/bin/solbot --config /etc/solbot/trading.toml health
  5. Control it without Telegram, as the bot's user from its directory:
       cd /var/lib/solbot && sudo -u $user /opt/solbot/.venv/bin/solbot --config /etc/solbot/trading.toml breakers
     (also pause, resume, close MINT|all, reset-breaker NAME, backup, restore FILE)
NEXT

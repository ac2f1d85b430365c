"""Secrets from the environment (``.env`` loaded first when present; real variables win).

Secrets never live in the TOML. ``SecretStr`` keeps them out of reprs and logs. A value that is
obviously a placeholder (``your-…``, ``replace-with-…``, ``changeme``, ``<…>``, an ``example.com``
URL: what ``.env.example`` shows) is refused with one line naming the variable, instead of being sent to Birdeye, Helius or
Telegram as if it were a key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr

from bot.errors import ConfigError
from bot.feeds.config import FeedKeys

if TYPE_CHECKING:
    from bot.config.models import Config


SECRET_ENV_VARS: dict[str, str] = {
    "SOLBOT_KEYPAIR": "path to the wallet keypair file (Solana CLI JSON array); live mode only",
    "BIRDEYE_API_KEY": "Birdeye API key; without it the Birdeye source is off",
    "HELIUS_API_KEY": "Helius API key; without it whale tracking via Helius is off",
    "JUPITER_API_KEY": "Jupiter API key (optional; keyless tier is rate limited)",
    "TELEGRAM_BOT_TOKEN": "Telegram bot token; without it Telegram is off",
    "TELEGRAM_ALLOWED_CHAT_IDS": "comma-separated chat ids allowed to send commands",
    "SOLBOT_ALERT_WEBHOOK_URL": "URL alerts are POSTed to as JSON when [webhook] enabled = true",
}


#: What an unedited example value looks like (case-insensitive). Real keys are random strings.
_PLACEHOLDER = re.compile(r"^(your[-_ ]|replace|change[-_ ]?me|<.*>$|x{4,}$)|replace[-_ ]?(with|me)|your[-_ ].*(key|token)"
                          r"|^https?://([^/]*\.)?example\.(com|org|net)([:/]|$)",  # RFC 2606: never a real endpoint
                          re.IGNORECASE)


def placeholder_problem(name: str, value: str, origin: str) -> str | None:
    """One line naming ``name`` when ``value`` is an example placeholder (the value is not shown)."""
    if not _PLACEHOLDER.search(value.strip()):
        return None
    purpose = SECRET_ENV_VARS.get(name, "")
    return (f"{name} (from {origin}) is a placeholder, not a real value; put the real one there or "
            f"comment the line out" + (f" ({purpose})" if purpose else ""))


class Secrets(BaseModel):
    """Secrets read from the environment. ``SecretStr`` keeps them out of reprs and logs."""

    model_config = ConfigDict(frozen=True)

    keypair_path: str | None = None
    birdeye_api_key: SecretStr | None = None
    helius_api_key: SecretStr | None = None
    jupiter_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_allowed_chat_ids: tuple[int, ...] = ()
    alert_webhook_url: SecretStr | None = None

    def feed_keys(self) -> FeedKeys:
        """The keys the live feeds use."""
        return FeedKeys(birdeye_api_key=self.birdeye_api_key, helius_api_key=self.helius_api_key)

    def values(self) -> list[str]:
        """Raw secret strings, for the log redactor."""
        out = []
        for v in (self.birdeye_api_key, self.helius_api_key, self.jupiter_api_key,
                  self.telegram_bot_token, self.alert_webhook_url):
            if v is not None and v.get_secret_value():
                out.append(v.get_secret_value())
        return out


def parse_dotenv(text: str) -> dict[str, str]:
    """Minimal ``.env`` parser: ``KEY=VALUE`` lines, ``#`` comments, optional quotes, ``export``."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError([f".env line {lineno}: expected KEY=VALUE"])
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def load_secrets(env: dict[str, str] | None = None, dotenv_path: Path | None = Path(".env")) -> Secrets:
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        from_file = parse_dotenv(dotenv_path.read_text(encoding="utf-8"))
        merged.update(from_file)
        origin.update(dict.fromkeys(from_file, str(dotenv_path)))
    environ = os.environ if env is None else env
    merged.update(environ)
    origin.update(dict.fromkeys(environ, "the environment"))
    placeholders = [line for name in SECRET_ENV_VARS
                    if (line := placeholder_problem(name, merged.get(name, ""), origin.get(name, "")))]
    if placeholders:
        raise ConfigError(placeholders)

    def get(name: str) -> str | None:
        v = merged.get(name, "").strip()
        return v or None

    chat_ids: list[int] = []
    raw_ids = get("TELEGRAM_ALLOWED_CHAT_IDS")
    if raw_ids:
        for part in raw_ids.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                chat_ids.append(int(part))
            except ValueError:
                raise ConfigError([f"TELEGRAM_ALLOWED_CHAT_IDS: {part!r} is not an integer chat id"]
                                  ) from None
    return Secrets(
        keypair_path=get("SOLBOT_KEYPAIR"),
        birdeye_api_key=_secret(get("BIRDEYE_API_KEY")),
        helius_api_key=_secret(get("HELIUS_API_KEY")),
        jupiter_api_key=_secret(get("JUPITER_API_KEY")),
        telegram_bot_token=_secret(get("TELEGRAM_BOT_TOKEN")),
        telegram_allowed_chat_ids=tuple(chat_ids),
        alert_webhook_url=_secret(get("SOLBOT_ALERT_WEBHOOK_URL")),
    )


def _secret(v: str | None) -> SecretStr | None:
    return SecretStr(v) if v else None


def check_startup(cfg: Config, secrets: Secrets) -> None:
    """Cross-checks between config and environment that must hold before anything starts."""
    problems: list[str] = []
    if cfg.environment.execution_mode == "live":
        if not secrets.keypair_path:
            problems.append('environment.execution_mode = "live" needs a wallet: set SOLBOT_KEYPAIR '
                            "to the path of a Solana CLI keypair file")
        elif not Path(secrets.keypair_path).is_file():
            problems.append(f"SOLBOT_KEYPAIR: keypair file {secrets.keypair_path} does not exist")
    if problems:
        raise ConfigError(problems)

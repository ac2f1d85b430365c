"""The config: ``config/trading.toml`` validated into frozen models, plus the secrets from the
environment.

The TOML is the single source of tunables: every section model requires every key, so the shipped
file documents all of them. Validation problems are reported one line each, naming the key path
and what is allowed (``risk.max_position_sol: must be > 0, got -1``).

- ``models``: the section models and ``Config``;
- ``load``: reading, validating, overrides, hot-reload plans, the effective config as text;
- ``secrets``: ``Secrets`` from the environment and ``.env``, start-up cross-checks;
- ``messages``: pydantic errors as one line per problem;
- ``ops``: the ``[health]``, ``[telegram]`` and ``[alerts]`` section models.
"""

from bot.config.load import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    LoadedConfig,
    ReloadPlan,
    changed_keys,
    load_config,
    parse_config_text,
    plan_reload,
    render_effective,
    resolve_config_path,
    validate_config,
    with_overrides,
)
from bot.config.models import HOT_RELOADABLE, Config
from bot.config.secrets import SECRET_ENV_VARS, Secrets, check_startup, load_secrets, parse_dotenv
from bot.errors import ConfigError

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "HOT_RELOADABLE",
    "SECRET_ENV_VARS",
    "Config",
    "ConfigError",
    "LoadedConfig",
    "ReloadPlan",
    "Secrets",
    "changed_keys",
    "check_startup",
    "load_config",
    "load_secrets",
    "parse_config_text",
    "parse_dotenv",
    "plan_reload",
    "render_effective",
    "resolve_config_path",
    "validate_config",
    "with_overrides",
]

"""The config: ``config/trading.toml`` validated into frozen models, plus the secrets from the
environment.

The TOML is the single source of tunables: the shipped file documents every key, and each key's
default in the models is the value documented there (tests/config checks the two agree), so a
file written for an older version, lacking newer keys, still loads. Unknown keys are refused (a
removed one names what replaced it). Validation problems are reported one line each, naming the
key path and what is allowed (``risk.max_position_sol: must be > 0, got -1``).

- ``models``: the section models and ``Config``;
- ``load``: reading, validating, overrides, hot-reload plans, the effective config as text;
- ``secrets``: ``Secrets`` from the environment and ``.env``, start-up cross-checks;
- ``messages``: pydantic errors as one line per problem, the keys removed in recent versions;
- ``upgrade``: what a file leaves to the defaults and sets that no longer exists (``check-config --diff``);
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
    parse_toml,
    plan_reload,
    read_config_text,
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
    "parse_toml",
    "plan_reload",
    "read_config_text",
    "render_effective",
    "resolve_config_path",
    "validate_config",
    "with_overrides",
]

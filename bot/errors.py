"""Exceptions sorted by what the operator (or the caller) should do about them.

- ``OperatorError``: stop and tell a human (bad config, missing dataset, unwritable ledger).
  The CLI prints its lines and exits non-zero, without a traceback.
- ``TemporaryError``: retry later with backoff (a feed or node is down, rate limited).
- ``DataError``: a response or file was malformed; the item is skipped and counted.
"""

from __future__ import annotations


class SolbotError(Exception):
    """Base of every error solbot raises on purpose."""


class OperatorError(SolbotError):
    """Needs a human: the process cannot continue as configured."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))


class ConfigError(OperatorError):
    """The config file or environment is invalid."""


class MissingDependencyError(OperatorError):
    """A configured feature's Python package cannot be imported. Such packages are imported where
    the feature is set up (not with the modules that name them), so a process without the feature
    does not pay for them; the check is then at start-up, through this error."""

    def __init__(self, feature: str, package: str, exc: ImportError, remedy: str) -> None:
        super().__init__(f"{feature} needs the Python package {package}, which cannot be imported ({exc}); "
                         f"reinstall solbot's dependencies (scripts/setup-venv.sh or `pip install .`) or {remedy}")


class DatasetError(OperatorError):
    """A market dataset is missing, unreadable or does not follow the schema."""


class LedgerError(OperatorError):
    """The ledger cannot be opened or written."""


class LedgerLockedError(LedgerError):
    """Another solbot process holds the ledger."""


class TemporaryError(SolbotError):
    """Worth retrying with backoff."""


class DataError(SolbotError):
    """A malformed external payload; skip the item, count it, carry on."""

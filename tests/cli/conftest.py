"""The CLI tests reuse the operations stand-ins (a status source the health server reads)."""

from tests.ops.conftest import engine_status  # noqa: F401

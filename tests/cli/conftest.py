"""The CLI tests reuse the operations stand-ins (a status source and the health server reading it)."""

from tests.ops.conftest import engine_status, health_server  # noqa: F401

"""Make the world fixtures available to the tests in this package."""

from tests.world.fixtures import world, world1  # noqa: F401

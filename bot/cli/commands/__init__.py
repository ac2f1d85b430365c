"""CLI subcommands, one module each.

Every module here defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(sync) or ``async def arun(args) -> int``. ``bot.cli.main`` discovers them, so adding a command never
touches the CLI module. Commands that need the config call ``bot.cli.common.load(args)``.
"""

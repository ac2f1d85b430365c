"""CLI subcommands, one module each.

Every module here defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(sync) or ``async def arun(args) -> int``. ``bot.cli`` discovers them, so adding a command never
touches the CLI module. Commands that need the config call ``bot.commands.common.load(args)``.
"""

"""CLI subcommands, one module each.

Every module here defines ``NAME``, ``HELP`` (optionally ``DESCRIPTION``), ``add_arguments(parser)``
and ``run(args) -> int`` (sync) or ``async def arun(args) -> int``. ``bot.cli.main`` discovers them,
so adding a command never touches the CLI module. Keep ``NAME``/``HELP``/``DESCRIPTION`` plain string
literals: the CLI reads them from the source and imports a module only when its command runs, so
one command's imports (polars, the engine) never slow down another (``solbot health``). Commands
that need the config call ``bot.cli.common.load(args)``.
"""

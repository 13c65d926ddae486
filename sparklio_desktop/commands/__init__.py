"""One module per ``sparklio`` subcommand: ``add_arguments(parser)`` and ``run(args)``.

The one-line help of each lives in ``cli.COMMANDS``, so listing the commands imports
none of them. A module is imported only when its command runs or shows its help; what
it needs from the core that loads pydantic, SQLAlchemy or asyncio is imported inside
``run``, so ``--help`` and argument errors stay instant.
"""

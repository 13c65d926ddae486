"""One module per ``sparklio`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args)``.

Modules import the core lazily inside ``run`` so that building the parser stays cheap.
"""

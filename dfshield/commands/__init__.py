"""One module per ``dfshield`` sub-command, listed in ``dfshield/cli.py``: ``add_arguments(parser)``
and ``run(args) -> int``. Commands are thin: they parse arguments, call the library and print."""

"""One module per ``dfshield`` sub-command: ``add_arguments(parser)`` and ``run(args) -> int``.

Commands are thin: they parse arguments, call the library, and print. ``dfshield/cli.py``
lists them.
"""

"""One module per CLI command. Each exposes ``register(subparsers)``; the handler it sets as ``func``
takes the run's ``Context`` (arguments, streams, and the objects built once from them) and returns an
exit code. Commands do not import each other: what they share is in ``_common``. Nothing here calls
``sys.exit``."""

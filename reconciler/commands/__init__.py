"""One module per CLI command. Each exposes ``register(subparsers)``; the handler it sets as ``func``
takes ``(args, streams)`` and returns an exit code. Nothing here calls ``sys.exit``."""

"""One module per CLI command. Each exposes ``register(subparsers)``; the handler it sets as ``func``
takes the run's ``Context`` (arguments, streams, and the objects built once from them) and returns an
exit code. Commands do not import each other: what they share is in ``_common``. Nothing here calls
``sys.exit``.

``SUMMARIES`` is the one list of the commands, in the order ``reconciler --help`` shows them, with the
one-line help each registers: the CLI lists them from it without importing any command module, and
imports ``reconciler.commands.NAME_cmd`` only for the command that runs."""

SUMMARIES: dict[str, str] = {
    "init": "set up a specs repository: .gitignore, an example spec, a CI workflow, a README",
    "validate": "check spec files offline: YAML, schema and DICOM rules",
    "plan": "show what apply would change, without changing anything",
    "apply": "apply a saved plan, or plan and apply specs, with version guards",
    "drift": "report where live metadata differs from the specs (exit 2 on drift)",
    "show": "print a saved plan (text, JSON or markdown), redacted unless --show-phi",
    "import": "write a spec from live metadata (adopt an existing image set)",
    "history": "list an image set's versions, newest first",
    "revert": "restore an earlier version of an image set (as a new version)",
    "ls": "list a datastore's image sets: version, state, primary flag, storage tier, series and instances",
    "adt": "turn HL7 v2 ADT messages (patient updates and merges) into specs to review",
    "emulator": "run or seed the local HealthImaging emulator",
}

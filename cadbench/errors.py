"""Errors that carry a message meant for the user (file, line, id): the CLI prints them
as one line instead of a traceback."""


class CadbenchError(Exception):
    pass


class InputError(CadbenchError):
    """Malformed or inconsistent user input (a bad JSONL line, an unknown id, a missing file)."""


class DatasetNotFound(CadbenchError):
    """A dataset that is not available locally; the message says how to obtain it."""

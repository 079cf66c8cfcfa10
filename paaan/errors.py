"""Errors that name the input and the problem.

Every error a user can meet from bad data is one of these, so the CLI can print it without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class PaaanError(Exception):
    """Base class: a problem with the user's input or setup, reported without a traceback."""


class CorpusError(PaaanError):
    """A corpus file or folder is missing or malformed.

    ``path`` names the file (and ``line`` the line, when there is one); the message says what is wrong.
    """

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class FeatureError(PaaanError):
    """A feature file or resource (GloVe file, openSMILE config, feature store) is unusable."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class InputError(PaaanError):
    """A prediction request (pyfunc input) is malformed: names the column or row and the problem."""


def row_of(table: dict, name, what: str):
    """``table[name]``, or a ValueError naming the unknown ``what`` and every known name (the tables of choices:
    variants, scenarios, demo profiles)."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(table)}") from None

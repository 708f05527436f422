"""Errors the command line turns into a clear message and exit code 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a file, a field, a flag or an endpoint list.

    Raised before anything is written, so nothing is half-done. The message
    names the file and line (or the flag) and says what to do.
    """


class RuntimeFailure(Exception):
    """A run that started but could not finish (e.g. every endpoint died).

    What was written so far is complete and kept; rerunning resumes.
    """


def first_line(e: BaseException) -> str:
    """An exception's message in one line for an error line: its first line (libraries wrap a
    worker's error in a long one), at most 300 characters; the type's name when it says nothing."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


EXIT_INPUT = 2
EXIT_RUNTIME = 1

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


EXIT_INPUT = 2
EXIT_RUNTIME = 1

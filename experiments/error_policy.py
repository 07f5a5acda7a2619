"""The CLI's error policy: every failure reaches the user as ONE line, `recplug: error: <message>`,
exit status 2 (130 on Ctrl-C); the full traceback only with `recplug --traceback ...`.

Errors recplug raises for bad input (DatasetError and its BadFileError, ValueError with a message
written for the user, FileNotFoundError) are printed as they are: they already name the file, key,
column or row. Library errors that reach this far are put in words (an OSError as its file and
what went wrong: permission denied, no space left...; a pydantic error as its keys). Anything else is
unexpected: its type and first line, and how to see the whole trace.
"""

from __future__ import annotations

import errno

from recplug.data.errors import DatasetError, ValidationFailed, describe_validation_error
from recplug.data.read_errors import one_line, os_problem

TRACE_HINT = "(rerun with --traceback for the full trace)"
INTERRUPTED = 130


def describe(e: BaseException) -> str:
    """The one line (after `recplug: error: `) that tells the user what failed."""
    from pydantic import ValidationError

    if isinstance(e, ValidationFailed):
        return str(e)  # the one deliberate list: every problem of a dataset, one per line
    if isinstance(e, ValidationError):
        return describe_validation_error(e, f"invalid {e.title}: ")
    if isinstance(e, OSError) and e.errno is not None:
        return _os_error(e)
    if isinstance(e, DatasetError | ValueError):
        text = str(e).strip()
        return text if "\n" not in text else f"{one_line(text)} ... {TRACE_HINT}"
    return f"{type(e).__name__}: {one_line(e) or '(no message)'} {TRACE_HINT}"


def _os_error(e: OSError) -> str:
    """`<file>: <problem>` for any OSError (`<file> -> <other>` for a failed rename or copy)."""
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    problem = os_problem(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        problem += ": free some space and rerun (finished stages are kept)"
    return f"{where}: {problem}" if where else problem

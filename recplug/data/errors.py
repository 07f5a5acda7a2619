"""The one error type for bad dataset input; it always names the file, and the column and row when known."""

from __future__ import annotations


class DatasetError(ValueError):
    def __init__(
        self, message: str, *, file: str | None = None, column: str | None = None, row: int | None = None
    ):
        super().__init__(message)
        self.file, self.column, self.row = file, column, row


class ValidationFailed(DatasetError):
    """Several problems found at once; `problems` holds each one."""

    def __init__(self, directory: str, problems: list[DatasetError]):
        if len(problems) == 1:  # one problem, one line
            message = f"dataset {directory} failed validation: {problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in problems)
            message = f"dataset {directory} failed validation ({len(problems)} problem(s)):\n{lines}"
        super().__init__(message)
        self.problems = problems


def describe_validation_error(error, where: str = "") -> str:
    """One line naming every bad key of a pydantic ValidationError: "key 'a.b': message; ..."."""
    problems = "; ".join(
        f"key '{'.'.join(str(p) for p in err['loc']) or '<root>'}': {err['msg']}" for err in error.errors()
    )
    return f"{where}{problems}"


def first_bad(
    frame, column: str, bad, file: str, problem: str, count: int | None = None
) -> DatasetError | None:
    """The error naming the first row of `frame` (eager or lazy) where the polars expression `bad` holds:
    "{file}: column 'c' row r: {value!r} {problem} (n row(s) like it)"; None when no row is bad.
    `count` spares a second pass when the caller already counted the bad rows."""
    bad = bad.fill_null(False)
    lf = frame.lazy()
    if count is None:
        count = lf.select(bad.sum()).collect().item()
    if not count:
        return None
    first = lf.with_row_index("row").filter(bad).select("row", column).head(1).collect().row(0, named=True)
    return DatasetError(
        f"{file}: column '{column}' row {first['row']}: {first[column]!r} {problem} ({count} row(s) like it)",
        file=file,
        column=column,
        row=first["row"],
    )


def raise_first_bad(frame, column: str, bad, file: str, problem: str) -> None:
    """Raise `first_bad`'s error when some row of `frame` is bad; nothing otherwise."""
    error = first_bad(frame, column, bad, file, problem)
    if error is not None:
        raise error


class BadFileError(DatasetError):
    """A file recplug cannot use as what it should be: missing, unreadable, truncated, corrupt,
    incomplete, or another kind of file. The message is one line that names the file."""

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
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"dataset {directory} failed validation ({len(problems)} problem(s)):\n{lines}")
        self.problems = problems


def describe_validation_error(error, where: str = "") -> str:
    """One line naming every bad key of a pydantic ValidationError: "key 'a.b': message; ..."."""
    problems = "; ".join(
        f"key '{'.'.join(str(p) for p in err['loc']) or '<root>'}': {err['msg']}" for err in error.errors()
    )
    return f"{where}{problems}"


def raise_first_bad(frame, column: str, bad, file: str, problem: str) -> None:
    """Raise a DatasetError naming the first row of `frame` where the polars expression `bad` holds:
    "{file}: column 'c' row r: {value!r} {problem} (n row(s) like it)". Nothing when no row is bad."""
    import polars as pl

    rows = frame.select(pl.col(column), bad.alias("_bad")).with_row_index("row").filter(pl.col("_bad"))
    if rows.height:
        first = rows.row(0, named=True)
        raise DatasetError(
            f"{file}: column '{column}' row {first['row']}: {first[column]!r} {problem} "
            f"({rows.height} row(s) like it)",
            file=file,
            column=column,
            row=first["row"],
        )


class BadFileError(DatasetError):
    """A file recplug cannot use as what it should be: missing, unreadable, truncated, corrupt,
    incomplete, or another kind of file. The message is one line that names the file."""

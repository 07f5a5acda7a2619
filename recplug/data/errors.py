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

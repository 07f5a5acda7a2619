"""The data contract: schemas, validation, parquet IO, time splits, the synthetic world, importers."""

from recplug.data.errors import DatasetError, ValidationFailed
from recplug.data.io import Dataset, load_dataset, write_dataset
from recplug.data.meta import DatasetMeta, PositiveRule, Splits, read_meta
from recplug.data.split import TimeSplit, cold_items, period_expr, time_split
from recplug.data.validate import validate_dataset

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetMeta",
    "PositiveRule",
    "Splits",
    "TimeSplit",
    "ValidationFailed",
    "cold_items",
    "load_dataset",
    "period_expr",
    "read_meta",
    "time_split",
    "validate_dataset",
    "write_dataset",
]

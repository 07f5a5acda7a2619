"""Importers: turn other people's logs into a recplug dataset folder."""

from recplug.data.importers.movielens import import_movielens
from recplug.data.importers.table import import_table

__all__ = ["import_movielens", "import_table"]

"""recplug: distil collaborative ID teachers into an omni-modal item encoder."""

__version__ = "0.1.0"

"""The built-in synthetic omni-modal world: recplug's dataset with known ground truth."""

from recplug.data.world.config import PRESETS, WorldConfig, preset
from recplug.data.world.truth import GroundTruth
from recplug.data.world.world import World, ground_truth_of

__all__ = ["PRESETS", "GroundTruth", "World", "WorldConfig", "ground_truth_of", "preset"]

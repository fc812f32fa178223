"""Training: the recipe (timm optimizer, cosine schedule, label smoothing, Mixup/CutMix, drop path),
progressive re-tokenization, checkpoints with automatic resume, and multi-process (DDP) training."""

from ..config import Recipe
from .checkpoint import CheckpointError, TrainedModel, load_model, save_model
from .distributed import DistInfo, distributed
from .family import check_members, select_members
from .loop import EpochRecord, FitResult, TrainError, check_fit, fit
from .retokenize import (
                         Phase,
                         ScheduleError,
                         asvit_macs,
                         dilation_for,
                         measured_macs,
                         phase_cost,
                         phase_schedule,
                         relative_macs,
                         stage_grids,
)

__all__ = ["CheckpointError", "DistInfo", "EpochRecord", "FitResult", "Phase", "Recipe", "ScheduleError",
           "TrainError", "TrainedModel", "asvit_macs", "check_fit", "check_members", "dilation_for", "distributed",
           "fit", "load_model", "measured_macs", "phase_cost", "phase_schedule", "relative_macs", "save_model",
           "select_members", "stage_grids"]

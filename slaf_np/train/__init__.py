"""Training: losses, optimisers, the :func:`fit` loop and its callbacks, checkpoints and resuming,
metrics, and recalibration of the running statistics."""

from .calibration import recalibrate
from .callbacks import Callback, EvalEvery, KeepBest, KeepLast, Progress, Schedule
from .checkpoint import Checkpoint
from .evaluation import evaluate, predict
from .history import History
from .loop import TrainingDivergedError, fit
from .metrics import METRICS, accuracy, rmse
from .optim import SGD, Adam, CoupledPenalty, StepSchedule

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDivergedError", "accuracy", "rmse",
           "METRICS", "Callback", "Schedule", "EvalEvery", "KeepLast", "KeepBest", "Progress",
           "Checkpoint", "SGD", "Adam", "CoupledPenalty", "StepSchedule", "recalibrate"]

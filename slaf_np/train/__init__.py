"""Training: losses, optimisers, the :func:`fit` loop and its helpers, and recalibration of the
running statistics."""

from .calibration import recalibrate
from .loop import METRICS, History, TrainingDivergedError, accuracy, evaluate, fit, predict, rmse
from .optim import SGD, Adam, CoupledPenalty, StepSchedule

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDivergedError", "accuracy", "rmse",
           "METRICS", "SGD", "Adam", "CoupledPenalty", "StepSchedule", "recalibrate"]

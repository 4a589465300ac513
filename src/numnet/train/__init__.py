"""Training: the loop and its callbacks, optimizers, learning-rate schedules, the History, checkpoints and the
progress bar. Knows the model only through its public interface; imports nothing from `numnet.model`."""
from .callbacks import (Callback, ConsoleLog, EarlyStopping, LambdaCallback,
                        LearningRateSchedule, ModelCheckpoint, Monitor, ProgressBar, RecordHistory, TaskAccuracy,
                        TrainingDiverged)
from .checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from .health import GradientHealth, GradientHealthWarning
from .history import History, ewa
from .loop import Trainer, epoch_order, fit
from .optimizers import OPTIMIZERS, SGD, Adam, FusedSGD, Momentum, Optimizer, RMSprop, make_optimizer
from .schedules import (SCHEDULES, Constant, CosineDecay, ExponentialDecay, InverseSqrtDecay, InverseTimeDecay,
                        Plateau, Schedule, StepDecay, make_schedule)

__all__ = ["Callback", "TaskAccuracy", "ModelCheckpoint", "ConsoleLog", "EarlyStopping", "LambdaCallback",
           "LearningRateSchedule", "Monitor", "ProgressBar", "RecordHistory", "TrainingDiverged", "Checkpoint",
           "load_checkpoint", "save_checkpoint", "History", "ewa", "Trainer", "epoch_order", "fit", "OPTIMIZERS",
           "SGD", "FusedSGD", "Adam", "Momentum", "Optimizer", "RMSprop", "make_optimizer", "SCHEDULES", "Constant", "CosineDecay",
           "ExponentialDecay", "InverseSqrtDecay", "InverseTimeDecay", "Plateau", "Schedule", "StepDecay", "make_schedule",
           "GradientHealth", "GradientHealthWarning"]

"""Training: one family-agnostic loop, run configs, checkpoints and ``load``."""

from worldlab.train.checkpoint import load
from worldlab.train.config import TrainConfig
from worldlab.train.run_config import DataConfig, RunConfig
from worldlab.train.setup import prepare_run, train
from worldlab.train.trainer import Trainer

__all__ = ["DataConfig", "RunConfig", "TrainConfig", "Trainer", "load", "prepare_run", "train"]

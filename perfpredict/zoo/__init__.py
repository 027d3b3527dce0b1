"""Model zoo: specs, trainer, store and executors."""

from .ensemble import group_runs, train_ensemble
from .executors import LocalExecutor, RayExecutor, make_executor
from .generate import RunSummary, generate_zoo
from .spec import RunSpec, SearchSpace, ZooSpec, checkpoint_schedule
from .store import ZooStore

__all__ = ["RunSpec", "SearchSpace", "ZooSpec", "ZooStore", "RunSummary", "generate_zoo",
           "train_ensemble", "group_runs", "LocalExecutor", "RayExecutor", "make_executor",
           "checkpoint_schedule"]

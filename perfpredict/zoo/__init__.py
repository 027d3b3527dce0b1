"""Model zoo: specs, trainer, store and executors."""

from .generate import RunSummary, generate_zoo
from .spec import RunSpec, SearchSpace, ZooSpec, checkpoint_schedule
from .store import ZooStore

__all__ = ["RunSpec", "SearchSpace", "ZooSpec", "ZooStore", "RunSummary", "generate_zoo",
           "checkpoint_schedule"]

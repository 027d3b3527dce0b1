"""Checkpoint files in, named float tensors out, without running any code they hold:
:func:`load_checkpoint` (format by content), the restricted unpickler of ``torch.save``
files (:mod:`.torch_pickle`) and Keras weights (:mod:`.keras`)."""

from .load import CHECKPOINT_SUFFIXES, Checkpoint, as_checkpoint, load_checkpoint

__all__ = ["Checkpoint", "load_checkpoint", "as_checkpoint", "CHECKPOINT_SUFFIXES"]

"""Loading weights into a model strictly: what does not fit is an error that names it."""
import os
import pickle
from typing import Sequence

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from .config import load_lazy_config

__all__ = ["EvalCheckpointer", "NamesUnreadableFiles", "load_model"]


class NamesUnreadableFiles:
    """Checkpointer mixin: a file that is not a checkpoint is a ValueError naming the file."""

    def _load_file(self, filename: str):
        try:
            return super()._load_file(filename)
        except (pickle.UnpicklingError, RuntimeError, EOFError, UnicodeDecodeError) as e:
            raise ValueError(f"{filename} is not a checkpoint that loads: not a PyTorch or detectron2 "
                             f"weights file, damaged, or holding more than weights "
                             f"({type(e).__name__})") from None


class EvalCheckpointer(NamesUnreadableFiles, DetectionCheckpointer):
    """
    Loads weights to evaluate or deploy: a weight of the model that the checkpoint lacks or holds
    with another shape (e.g. a head for another class count) is an error, not a warning over an
    untrained layer. The training-only exits (``...self_regulation.``) may be missing.
    """

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        missing = [k for k in incompatible.missing_keys if ".self_regulation." not in f".{k}"]
        problems = [f"{k}: {tuple(ckpt)} in the checkpoint, {tuple(model)} in the model"
                    for k, ckpt, model in incompatible.incorrect_shapes]
        problems += [f"{k}: missing from the checkpoint" for k in missing]
        if problems:
            raise ValueError("the checkpoint does not fit the config's model (" + "; ".join(problems[:5])
                             + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "") + ")")
        return incompatible


def load_model(config_file: str, checkpoint: str, overrides: Sequence[str] = ()):
    """(config, model in eval mode on CPU with ``checkpoint``'s weights, loaded by EvalCheckpointer)."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist")
    cfg = load_lazy_config(config_file, overrides)
    model = instantiate(cfg.model).eval()
    EvalCheckpointer(model).load(checkpoint)
    return cfg, model

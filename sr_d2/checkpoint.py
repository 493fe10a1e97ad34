"""Checkpointers: saving safely in training, loading strictly for evaluation (errors name what does not fit)."""
import os
import pickle
from typing import Sequence

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from .config import load_lazy_config

__all__ = ["EvalCheckpointer", "NamesUnreadableFiles", "TrainCheckpointer", "load_model"]


class NamesUnreadableFiles:
    """Checkpointer mixin: a file that is not a checkpoint is a ValueError naming the file."""

    def _load_file(self, filename: str):
        try:
            return super()._load_file(filename)
        except (pickle.UnpicklingError, RuntimeError, EOFError, UnicodeDecodeError) as e:
            raise ValueError(f"{filename} is not a checkpoint that loads: not a PyTorch or detectron2 "
                             f"weights file, damaged, or holding more than weights "
                             f"({type(e).__name__})") from None


class TrainCheckpointer(NamesUnreadableFiles, DetectionCheckpointer):
    """
    detectron2's checkpointer whose saves are atomic: a checkpoint is written under a temporary
    name and renamed, so a kill during a save never leaves ``last_checkpoint`` naming a truncated
    file; that saves nothing once the trainer's loss diverged or while a weight or buffer is not
    finite (so the last checkpoint is one to resume from; a large value, e.g. a BatchNorm running
    variance of 10^4 on raw pixels, is healthy and saved); and whose resume
    refuses what it cannot resume instead of starting over.
    """

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        diverged_at = getattr(self.checkpointables.get("trainer"), "diverged_at", None)
        if diverged_at is not None:
            self.logger.error("Not saving %s: the loss diverged at iteration %d", name, diverged_at)
            return
        broken = [key for key, w in self.model.state_dict().items()
                  if w.is_floating_point() and not bool(torch.isfinite(w).all())]
        if broken:
            self.logger.error("Not saving %s: %s not finite, training is diverging; the last checkpoint "
                              "stays %s", name, ", ".join(broken[:3]) + (" ..." if len(broken) > 3 else ""),
                              self.get_checkpoint_file() or "none")
            return
        partial = f"{name}.partial"
        super().save(partial, **kwargs)  # written whole, and tagged, before the rename
        os.replace(os.path.join(self.save_dir, partial + ".pth"), os.path.join(self.save_dir, name + ".pth"))
        self.tag_last_checkpoint(name + ".pth")

    def check_resumable(self) -> None:
        """Raise naming the folder or file when ``--resume`` cannot continue the run in ``save_dir``."""
        saved = sorted(f for f in os.listdir(self.save_dir) if f.startswith("model_") and f.endswith(".pth"))
        if not self.has_checkpoint():
            if saved:
                raise FileNotFoundError(
                    f"--resume: {self.save_dir} holds checkpoints {saved} but no last_checkpoint naming "
                    f"one; restore it, or train elsewhere (nothing was overwritten)")
            return
        path = self.get_checkpoint_file()
        try:
            torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as e:
            others = [f for f in saved if os.path.join(self.save_dir, f) != path]
            raise RuntimeError(f"--resume: the last checkpoint {path} cannot be read ({e}); the folder's "
                               f"other checkpoints: {others}") from None


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

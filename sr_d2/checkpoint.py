"""Checkpointers: saving safely in training, loading strictly for evaluation (errors name what does not fit)."""
import logging
import os
import pickle
from typing import Sequence

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from .config import load_lazy_config
from .utils import written_then_renamed

__all__ = ["TRUSTED_PICKLES_ENV", "EvalCheckpointer", "NamesUnreadableFiles", "TrainCheckpointer",
           "check_fits", "check_shares_weights", "load_model", "load_torch_file"]


# Pickle files (detectron2's model-zoo ``.pkl``) that may be loaded, os.pathsep-separated: unpickling
# can run any code the file holds, so only files the user names here are unpickled.
TRUSTED_PICKLES_ENV = "SR_D2_TRUSTED_PICKLES"


def _trusted_pickle(filename: str) -> bool:
    trusted = [p for p in os.environ.get(TRUSTED_PICKLES_ENV, "").split(os.pathsep) if p]
    return any(os.path.realpath(p) == os.path.realpath(filename) for p in trusted)


def load_torch_file(filename: str):
    """A ``torch.save`` file's content, loaded with ``weights_only=True`` (tensors, numbers, strings,
    containers: no code runs); a pickle error for anything else."""
    with open(filename, "rb") as f:
        return torch.load(f, map_location="cpu", weights_only=True)


def not_finite(state_dict: dict) -> list:
    """The keys of ``state_dict``'s floating tensors that hold a NaN or an infinity."""
    return [k for k, w in state_dict.items() if w.is_floating_point() and not bool(torch.isfinite(w).all())]


def check_fits(incompatible, what: str, optional: str = "") -> None:
    """ValueError listing the weights of the model that ``incompatible`` (what a checkpointer's
    load returns) says ``what`` holds with another shape or lacks; keys containing ``optional``
    may be missing."""
    missing = [k for k in incompatible.missing_keys if not optional or optional not in f".{k}"]
    problems = [f"{k}: {tuple(ckpt)} in the checkpoint, {tuple(model)} in the model"
                for k, ckpt, model in incompatible.incorrect_shapes]
    problems += [f"{k}: missing from the checkpoint" for k in missing]
    if problems:
        sr = any(".self_regulation." in f".{k}" or ".base_head." in k for k in incompatible.unexpected_keys)
        raise ValueError(f"{what} does not fit the config's model (" + "; ".join(problems[:5])
                         + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "") + ")"
                         + ("; it is an SR model's checkpoint and the config's model has no SR: "
                            "`python -m sr_d2.tools.export_plain <checkpoint> <plain.pth>` writes its base "
                            "model's weights, or evaluate it with its SR config" if sr else ""))


def check_shares_weights(model: torch.nn.Module, weights: dict, incompatible) -> None:
    """ValueError when ``weights`` (train.init_checkpoint's, as loaded) gave the model none of its
    weights: another model's file, or keys under another prefix. Logs how many it gave."""
    # not weights, and never reported missing: the config's pixel statistics, BatchNorm's step count
    own = [k for k in model.state_dict() if k not in ("pixel_mean", "pixel_std")
           and not k.endswith("num_batches_tracked")]
    skipped = set(incompatible.missing_keys) | {k for k, _, _ in incompatible.incorrect_shapes}
    given = len([k for k in own if k not in skipped])
    logging.getLogger(__name__).info("train.init_checkpoint: %d of the model's %d weights loaded", given, len(own))
    if given == 0 and own:
        theirs = sorted(weights)[:2]
        raise ValueError(f"train.init_checkpoint: none of its {len(weights)} weights is one of the model's "
                         f"{len(own)} (its keys e.g. {theirs}, the model's e.g. {own[:2]}): the weights of "
                         f"another model, or keys under another prefix; give this model's weights, or none "
                         f"(train.init_checkpoint='') to train from scratch")


class NamesUnreadableFiles:
    """
    Checkpointer mixin: every file is loaded as weights only (``torch.load(weights_only=True)``);
    a ``.pkl`` (unpickled, so able to run code) only when ``$SR_D2_TRUSTED_PICKLES`` names it; a
    file that is not a checkpoint is a ValueError naming the file.
    """

    def _load_file(self, filename: str):
        if filename.endswith(".pkl") and not _trusted_pickle(filename):
            raise ValueError(f"{filename} is a pickle file, and unpickling can run code it holds: set "
                             f"{TRUSTED_PICKLES_ENV}={filename} to load a file you trust (e.g. detectron2's "
                             f"model-zoo weights)")
        try:
            loaded = super()._load_file(filename) if filename.endswith(".pkl") else load_torch_file(filename)
        except (pickle.UnpicklingError, RuntimeError, EOFError, UnicodeDecodeError) as e:
            raise ValueError(f"{filename} is not a checkpoint that loads: not a PyTorch or detectron2 "
                             f"weights file, damaged, or holding more than weights "
                             f"({type(e).__name__})") from None
        except (AttributeError, KeyError, TypeError) as e:  # detectron2's .pkl reader on other content
            raise ValueError(f"{filename} is not detectron2 model-zoo weights ({type(e).__name__}: {e})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{filename} holds a {type(loaded).__name__}, not weights (a dict of tensors)")
        if filename.endswith(".pyth"):  # pycls: its state under "model_state", matched by name
            state = loaded.get("model_state")
            if not isinstance(state, dict):
                raise ValueError(f"{filename} is not pycls weights: a .pyth file holds them under "
                                 f"'model_state', this one's keys are {sorted(map(str, loaded))[:5]}")
            state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
            loaded = {"model": state, "__author__": "pycls", "matching_heuristics": True}
        elif "model" not in loaded:
            loaded = {"model": loaded}
        weights = loaded["model"]
        bad = [k for k, v in weights.items() if not hasattr(v, "shape")] if isinstance(weights, dict) else None
        if bad is None or bad:
            what = f"a {type(weights).__name__}" if bad is None else f"{bad[:3]}, which are not arrays"
            raise ValueError(f"{filename} holds {what} where its weights (a dict of tensors) should be")
        return loaded


class TrainCheckpointer(NamesUnreadableFiles, DetectionCheckpointer):
    """
    detectron2's checkpointer whose saves are atomic: a checkpoint is written under a temporary
    name and renamed, so a kill during a save never leaves ``last_checkpoint`` naming a truncated
    file; that saves nothing once the trainer's loss diverged or while a weight or buffer is not
    finite (so the last checkpoint is one to resume from; a large value, e.g. a BatchNorm running
    variance of 10^4 on raw pixels, is healthy and saved); and whose ``--resume`` refuses a
    checkpoint that does not fit the model (another config's run) instead of training on partly.
    """

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        diverged_at = getattr(self.checkpointables.get("trainer"), "diverged_at", None)
        if diverged_at is not None:
            self.logger.error("Not saving %s: the loss diverged at iteration %d", name, diverged_at)
            return
        broken = not_finite(self.model.state_dict())
        if broken:
            self.logger.error("Not saving %s: %s not finite, training is diverging; the last checkpoint "
                              "stays %s", name, ", ".join(broken[:3]) + (" ..." if len(broken) > 3 else ""),
                              self.get_checkpoint_file() or "none")
            return
        partial = f"{name}.partial"
        self._untagged = True  # detectron2's save tags what it wrote: here only the renamed file is tagged
        try:
            super().save(partial, **kwargs)  # written whole before the rename
        finally:
            self._untagged = False
        os.replace(os.path.join(self.save_dir, partial + ".pth"), os.path.join(self.save_dir, name + ".pth"))
        self.tag_last_checkpoint(name + ".pth")

    _untagged = False

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """``last_checkpoint`` names the file, written whole or not at all."""
        if self._untagged:
            return
        with written_then_renamed(os.path.join(self.save_dir, "last_checkpoint")) as tmp, open(tmp, "w") as f:
            f.write(last_filename_basename)

    _resuming = False  # set by resume_or_load

    def resume_or_load(self, path: str, *, resume: bool = True):
        self._resuming = resume and self.has_checkpoint()
        if not self._resuming and path and os.path.isdir(path):
            raise IsADirectoryError(f"train.init_checkpoint={path!r} is a folder: give a weights file in it "
                                    f"(e.g. {os.path.join(path, 'model_final.pth')})")
        return super().resume_or_load(path, resume=resume)

    def _load_model(self, checkpoint):
        weights = dict(checkpoint.get("model", {}))  # fvcore pops it
        incompatible = super()._load_model(checkpoint)
        if self._resuming:  # this run's own checkpoint: every weight fits
            check_fits(incompatible, f"--resume: the last checkpoint in {self.save_dir}")
        else:  # initial weights: a partial match is usual (a backbone), none at all is a wrong file
            check_shares_weights(self.model, weights, incompatible)
        return incompatible


class EvalCheckpointer(NamesUnreadableFiles, DetectionCheckpointer):
    """
    Loads weights to evaluate or deploy: a weight of the model that the checkpoint lacks or holds
    with another shape (e.g. a head for another class count) is an error, not a warning over an
    untrained layer, and so is a weight that is not finite. The training-only exits
    (``...self_regulation.``) may be missing.
    """

    _path = "the checkpoint"

    def load(self, path: str, *args, **kwargs):
        self._path = path
        return super().load(path, *args, **kwargs)

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        check_fits(incompatible, self._path, optional=".self_regulation.")
        broken = not_finite(self.model.state_dict())
        if broken:
            raise ValueError(f"the checkpoint's weights {broken[:3]}{' ...' if len(broken) > 3 else ''} are not "
                             f"finite (a diverged run): its predictions would be meaningless; load an earlier one")
        return incompatible


def load_model(config_file: str, checkpoint: str, overrides: Sequence[str] = ()):
    """(config, model in eval mode on CPU with ``checkpoint``'s weights, loaded by EvalCheckpointer)."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist")
    cfg = load_lazy_config(config_file, overrides)
    model = instantiate(cfg.model).eval()
    EvalCheckpointer(model).load(checkpoint)
    return cfg, model

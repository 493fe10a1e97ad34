"""Checks run before a training or evaluation builds anything: each failure names the key or file."""
import difflib
import glob
import json
import pickle
import os
import socket
from contextlib import contextmanager
from typing import Iterator

from omegaconf import OmegaConf

from detectron2.data import DatasetCatalog, MetadataCatalog

from ..checkpoint import load_torch_file
from ..data import check_pair_headers
from ..utils import is_setting

__all__ = [
    "LOCK_FILE", "check_datasets", "check_fresh_output_dir", "check_resumable", "check_train_settings",
    "check_unfinished",
    "output_dir_lock",
]

LOCK_FILE = ".sr_d2.lock"


# The sections a training config defines (detectron2's LazyConfig layout).
_SECTIONS = ("model", "dataloader", "train", "optimizer", "lr_multiplier")
# Settings that must be finite numbers >= 0.
_OPTIMIZER_SETTINGS = ("optimizer.lr", "optimizer.weight_decay", "optimizer.momentum")
# Counts that must be whole numbers of at least 1 (``train.eval_period`` may be 0: evaluate at the end only).
_POSITIVE_COUNTS = ("train.max_iter", "train.checkpointer.period", "train.log_period",
                    "dataloader.train.total_batch_size")


def check_train_settings(cfg, config_file: str, eval_only: bool = False) -> None:
    """
    The config is a training config (its sections) and its counts are usable: each of
    ``_POSITIVE_COUNTS`` a whole number >= 1 (a float such as 1e3 that is whole becomes an int),
    ``train.eval_period`` >= 0, each of ``_OPTIMIZER_SETTINGS`` finite and >= 0. ValueError naming the
    file or the key and the value.
    """
    missing = [s for s in (("model", "dataloader", "train") if eval_only else _SECTIONS) if s not in cfg]
    if missing:
        raise ValueError(f"{config_file} defines no {', '.join(missing)}: a training config is a LazyConfig "
                         f"file (.py) defining {', '.join(_SECTIONS)}, e.g. configs/synthetic/sem_seg_fpn_R18.py")
    if eval_only:
        return
    for key in (*_POSITIVE_COUNTS, "train.eval_period"):
        section, _, name = key.rpartition(".")
        parent = OmegaConf.select(cfg, section)
        if parent is None or name not in parent:
            continue  # a setting the config leaves to detectron2's default
        value = parent[name]
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        least = 0 if key == "train.eval_period" else 1
        if isinstance(value, bool) or not whole or value < least:
            raise ValueError(f"{key}={value!r}: a whole number of at least {least} "
                             f"({'0 evaluates at the end only' if least == 0 else 'iterations or images'})")
        parent[name] = int(value)
    for key in _OPTIMIZER_SETTINGS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not is_setting(value):
            raise ValueError(f"{key}={value!r}: a finite number >= 0 (a NaN or infinite one makes every "
                             f"weight NaN at the first step)")


def check_datasets(cfg, splits=("train", "test")) -> None:
    """
    Before anything is built: every dataset the config names must be registered (each test
    dataset is evaluated on its own, none twice), the semantic head's class count and ignore
    value must be those of the datasets
    (configs read them from the dataset named when they load, so a dataset swapped on the command
    line keeps the old ones), and the image / label pairs of ``splits`` must pass
    :func:`check_pair_headers`. ValueError naming the key, the dataset and the fix.
    """
    registered = DatasetCatalog.list()
    for split in ("train", "test"):
        names = cfg.dataloader[split].dataset.names
        names = [names] if isinstance(names, str) else list(names)
        if split == "test" and (not names or len(set(names)) != len(names)):
            raise ValueError(f"dataloader.test.dataset.names={names}: name each dataset to evaluate on once")
        for name in names:
            if name not in registered:
                close = difflib.get_close_matches(name, registered, n=3)
                raise ValueError(f"dataloader.{split}.dataset.names: dataset {name!r} is not registered"
                                 + (f"; did you mean {', '.join(close)}?" if close else ""))
        head = cfg.model.get("sem_seg_head")
        if head is None:
            continue
        for name in names:
            meta = MetadataCatalog.get(name)
            classes = meta.get("stuff_classes")
            if classes is not None and head.num_classes != len(classes):
                raise ValueError(f"model.sem_seg_head.num_classes={head.num_classes}, but dataset {name!r} has "
                                 f"{len(classes)} classes: set model.sem_seg_head.num_classes={len(classes)}")
            ignore = meta.get("ignore_label")
            if ignore is not None and "ignore_value" in head and head.ignore_value != ignore:
                raise ValueError(f"model.sem_seg_head.ignore_value={head.ignore_value}, but dataset {name!r} "
                                 f"ignores {ignore}: set model.sem_seg_head.ignore_value={ignore}")
    for split in splits:
        names = cfg.dataloader[split].dataset.names
        for name in [names] if isinstance(names, str) else names:
            check_pair_headers(DatasetCatalog.get(name), name)


# What a training run leaves in train.output_dir that a new run would overwrite or append to.
_RUN_FILES = ("model_*.pth", "last_checkpoint", "metrics.json", "events.out.tfevents.*")


def check_fresh_output_dir(output_dir: str, overwrite: bool) -> None:
    """
    A new (not resumed) training run must not mix with a run already in ``output_dir``: raise
    FileExistsError naming its files and the ways out, or with ``overwrite`` delete them.
    """
    found = [os.path.basename(f) for pattern in _RUN_FILES
             for f in sorted(glob.glob(os.path.join(glob.escape(output_dir), pattern)))]
    if not found:
        return
    if not overwrite:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise FileExistsError(
            f"train.output_dir={output_dir} holds a training run ({shown}): continue it with --resume, "
            f"train elsewhere with train.output_dir=<new folder>, or replace it with --overwrite")
    for name in found:
        os.remove(os.path.join(output_dir, name))


def check_resumable(output_dir: str, overwrite: bool) -> None:
    """
    ``--resume`` continues the checkpoint ``output_dir/last_checkpoint`` names, which must load;
    with no last_checkpoint, a folder holding checkpoints is refused (FileNotFoundError), and one
    holding only the metrics of a run stopped before its first save is refused too (resuming would
    start at iteration 0 and append to them), or with ``overwrite`` cleared. An empty or new folder
    starts at iteration 0, as in detectron2.
    """
    last = os.path.join(output_dir, "last_checkpoint")
    saved = sorted(os.path.basename(f) for f in glob.glob(os.path.join(glob.escape(output_dir), "model_*.pth")))
    if not os.path.isfile(last):
        if saved:
            raise FileNotFoundError(
                f"--resume: {output_dir} holds checkpoints {saved} but no last_checkpoint naming one; "
                f"restore it, or train elsewhere (nothing was overwritten)")
        try:
            check_fresh_output_dir(output_dir, overwrite)
        except FileExistsError:
            raise FileExistsError(
                f"--resume: train.output_dir={output_dir} has no checkpoint to resume (the run stopped before "
                f"its first save), only the metrics of its first iterations: resuming would start at iteration "
                f"0 and append to them; start anew with --overwrite, or train elsewhere") from None
        return
    with open(last) as f:
        named = f.read().strip()
    path = os.path.join(output_dir, named)
    if not os.path.isfile(path):
        fix = (f"write the one to resume from into it (echo {saved[-1]} > {last})" if saved else
               "nothing to resume: start anew with --overwrite")
        raise FileNotFoundError(f"--resume: {last} names {named!r}, which is not in the folder (its checkpoints: "
                                f"{saved}); {fix}")
    try:
        load_torch_file(path)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as e:
        others = [f for f in saved if os.path.join(output_dir, f) != path]
        raise RuntimeError(f"--resume: the last checkpoint {path} cannot be read ({e}); the folder's "
                           f"other checkpoints: {others}") from None


def check_unfinished(output_dir: str, start_iter: int, max_iter: int) -> None:
    """
    ``--resume`` at ``start_iter`` (the checkpoint's iteration + 1) trains on to ``max_iter``: a run
    that trained past ``max_iter``, or trained to it and recorded its final evaluation in
    metrics.json, is finished (resuming would append a second final evaluation): ValueError. A run
    killed between its last checkpoint and its final evaluation resumes to evaluate.
    """
    if start_iter < max_iter:
        return
    evaluated = False
    path = os.path.join(output_dir, "metrics.json")
    if start_iter == max_iter and os.path.isfile(path):
        with open(path) as f:  # evaluations are stored as "<task>/<metric>"; training scalars have no "/"
            records = [json.loads(line) for line in f if line.strip()]
        evaluated = any(r.get("iteration", -1) >= max_iter - 1 and any("/" in k for k in r) for r in records)
    if start_iter > max_iter or evaluated:
        raise ValueError(f"--resume: the run in {output_dir} is finished: it trained {start_iter} iterations "
                         f"(train.max_iter={max_iter})" + (" and recorded its final evaluation" if evaluated else "")
                         + "; raise train.max_iter to train on, or evaluate it with --eval-only")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def output_dir_lock(output_dir: str) -> Iterator[None]:
    """
    One run per folder: while the block runs, ``output_dir/.sr_d2.lock`` names this process (pid,
    host). FileExistsError naming the owner when another process that is alive holds it (or one on
    another host, which cannot be checked); the lock of a process that is gone is taken over.
    """
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_FILE)
    mine = {"pid": os.getpid(), "host": socket.gethostname()}
    for attempt in range(2):  # a stale lock is taken over once; a lock found again is another run's
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = json.load(f)
            except (OSError, ValueError):
                owner = {}
            pid = owner.get("pid")
            if attempt == 0 and owner.get("host") == mine["host"] and isinstance(pid, int) and not _alive(pid):
                os.remove(path)  # stale: its process is gone
                continue
            raise FileExistsError(
                f"train.output_dir={output_dir} is in use by process {owner.get('pid', '?')} on "
                f"{owner.get('host', '?')} (its lock {path}): wait for it to end or train elsewhere; if no "
                f"run is going on there, delete the lock") from None
    with os.fdopen(fd, "w") as f:
        json.dump(mine, f)
    try:
        yield
    finally:
        os.remove(path)

#!/usr/bin/env python
"""
Train and evaluate sr-d2 models with detectron2's trainer, hooks and evaluators (LazyConfig).

    python train_net.py --config-file configs/synthetic/sem_seg_fpn_R18.py
    python train_net.py --config-file <cfg> --resume                  # continue in train.output_dir
    python train_net.py --config-file <cfg> --overwrite               # retrain over a finished run
    python train_net.py --config-file <cfg> --eval-only train.init_checkpoint=<model.pth>
    python train_net.py --config-file <cfg> --num-gpus 8 [--num-machines N --machine-rank R
                                                            --dist-url tcp://<host>:<port>]
"""
import difflib
import glob
import logging
import os
import pickle
from typing import Optional

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import (
    AMPTrainer,
    SimpleTrainer,
    create_ddp_model,
    default_argument_parser,
    default_setup,
    default_writers,
    hooks,
    launch,
)
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger

import sr_d2  # noqa: F401  (registers sr-d2's datasets and models)
from sr_d2.checkpoint import EvalCheckpointer, NamesUnreadableFiles
from sr_d2.config import load_lazy_config
from sr_d2.data import check_pair_headers
from sr_d2.engine import SRSchedule
from sr_d2.evaluation import failure_table, sem_seg_table
from sr_d2.modeling import SelfRegulation

logger = logging.getLogger("sr_d2")


class RemembersLastBatch:
    """A data loader that keeps the batch it gave last (``last``), to explain a failed step."""

    def __init__(self, loader):
        self.loader, self.last = loader, None

    def __iter__(self):
        for batch in self.loader:
            self.last = batch
            yield batch


class _StopsOnDivergence:
    """
    Trainer mixin: remembers the iteration whose loss was not finite (``diverged_at``), and
    says so when that batch had no labelled pixel (a head's mean CE over no pixel is NaN), which
    no learning rate fixes. ``ignore_value``: the label value of void pixels.
    """

    diverged_at = None
    ignore_value = None

    def run_step(self):
        try:
            super().run_step()
        except FloatingPointError as e:  # detectron2's trainers raise it for a NaN or infinite loss
            self.diverged_at = self.iter
            batch = getattr(self.data_loader, "last", None) or []
            labels = [x["sem_seg"] for x in batch if "sem_seg" in x]
            if labels and self.ignore_value is not None and all((y == self.ignore_value).all() for y in labels):
                files = [x.get("file_name", "?") for x in batch]
                raise FloatingPointError(
                    f"{e}\nThe batch of iteration {self.iter} has no labelled pixel: every label value is the "
                    f"ignore value {self.ignore_value} in {files}. Check those label maps (class ids, not "
                    f"colours) and the dataset's ignore_label; a lower learning rate will not help.") from e
            raise


class CheckedSimpleTrainer(_StopsOnDivergence, SimpleTrainer):
    pass


class CheckedAMPTrainer(_StopsOnDivergence, AMPTrainer):
    pass


# A weight beyond this is taken as a sign that training is diverging: no checkpoint keeps it.
MAX_SANE_WEIGHT = 1e4


class TrainCheckpointer(NamesUnreadableFiles, DetectionCheckpointer):
    """
    detectron2's checkpointer whose saves are atomic: a checkpoint is written under a temporary
    name and renamed, so a kill during a save never leaves ``last_checkpoint`` naming a truncated
    file; that saves nothing once the trainer's loss diverged or while a weight is not finite or
    above ``MAX_SANE_WEIGHT`` (so the last checkpoint is one to resume from); and whose resume
    refuses what it cannot resume instead of starting over.
    """

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        diverged_at = getattr(self.checkpointables.get("trainer"), "diverged_at", None)
        if diverged_at is not None:
            self.logger.error("Not saving %s: the loss diverged at iteration %d", name, diverged_at)
            return
        largest = max((w.detach().abs().max() for w in self.model.state_dict().values()
                       if w.is_floating_point() and w.numel()), default=torch.tensor(0.0))
        if not largest <= MAX_SANE_WEIGHT:  # NaN fails it too
            self.logger.error("Not saving %s: a weight is %s (above %g), training is diverging; the last "
                              "checkpoint stays %s", name, float(largest), MAX_SANE_WEIGHT,
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


def do_test(cfg, model) -> dict:
    """Run ``cfg.dataloader.evaluator`` on ``cfg.dataloader.test``; returns its results."""
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    if comm.is_main_process() and results:
        print_csv_format(results)
        if "sem_seg" in results:
            table = sem_seg_table(results["sem_seg"])
            logger.info("Semantic segmentation on %s:\n%s", cfg.dataloader.test.dataset.names, table)
            if "BF" in results["sem_seg"]:
                logger.info("Failure modes (recall: share of segments found, by size; BF: boundary "
                            "F-score):\n%s", failure_table(results["sem_seg"]))
    return results


def apply_config_hyperparameters(optimizer: torch.optim.Optimizer, config_groups: list) -> None:
    """
    After a resume, the optimizer's param groups hold the checkpoint's learning rate (as
    ``initial_lr``, which the LR schedule scales), weight decay and momentum. Put back the values
    of ``config_groups`` (the groups as the config built them) where they differ, and log it, so
    that ``--resume optimizer.lr=...`` continues at the new rate.
    """
    changed = set()
    for group, fresh in zip(optimizer.param_groups, config_groups):
        for key, saved_key in (("lr", "initial_lr"), ("weight_decay", "weight_decay"), ("momentum", "momentum")):
            if key in fresh and saved_key in group and group[saved_key] != fresh[key]:
                changed.add(f"{key} {group[saved_key]:g} -> {fresh[key]:g}")
                group[saved_key] = fresh[key]
    if changed:
        logger.warning("--resume: the config's optimizer settings replace the checkpoint's: %s",
                       ", ".join(sorted(changed)))


def sr_schedule(cfg, model) -> Optional[SRSchedule]:
    """The config's ``sr_schedule`` hook; None (and a warning if the model has SR) when it has none."""
    if "sr_schedule" in cfg:
        return instantiate(cfg.sr_schedule)
    if any(isinstance(m, SelfRegulation) for m in model.modules()):
        logger.warning("The model has SelfRegulation but the config no sr_schedule: SR-F and SR-L weigh "
                       "in fully from the first iteration, with no warm-up")
    return None


def do_train(args, cfg) -> dict:
    """
    Train ``cfg.model`` for ``cfg.train.max_iter`` iterations, evaluating every
    ``cfg.train.eval_period`` and at the end; returns the last evaluation's results.
    """
    if cfg.train.amp.enabled and cfg.train.device != "cuda":
        raise ValueError(f"train.amp.enabled=True needs train.device='cuda', not {cfg.train.device!r}")
    model = instantiate(cfg.model).to(cfg.train.device)
    logger.info("Model:\n%s", model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    config_groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    # Re-seeded so that the data (order and augmentations) depends on train.seed alone, not on how
    # many random numbers building the model drew: variants of a model see the same batches.
    if cfg.train.seed >= 0:
        seed_all_rng(cfg.train.seed + comm.get_rank())
    train_loader = RemembersLastBatch(instantiate(cfg.dataloader.train))
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (CheckedAMPTrainer if cfg.train.amp.enabled else CheckedSimpleTrainer)(
        model, train_loader, optimizer)
    trainer.ignore_value = cfg.model.get("sem_seg_head", {}).get("ignore_value")
    checkpointer = TrainCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    if args.resume:
        checkpointer.check_resumable()

    last_results = {}

    def evaluate():
        if trainer.diverged_at is not None:
            logger.error("Not evaluating: the loss diverged at iteration %d", trainer.diverged_at)
            return {}
        last_results.clear()
        last_results.update(do_test(cfg, model))
        return last_results

    main_process = comm.is_main_process()
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            sr_schedule(cfg, model),
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if main_process else None,
            hooks.EvalHook(cfg.train.eval_period, evaluate),
            hooks.PeriodicWriter(
                default_writers(cfg.train.output_dir, cfg.train.max_iter),
                period=cfg.train.log_period,
            )
            if main_process
            else None,
        ]
    )
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    resumed = args.resume and checkpointer.has_checkpoint()
    if resumed:
        apply_config_hyperparameters(optimizer, config_groups)
    start_iter = trainer.iter + 1 if resumed else 0
    trainer.train(start_iter, cfg.train.max_iter)
    return last_results


def do_eval_only(cfg) -> dict:
    """Evaluate the weights in ``cfg.train.init_checkpoint``."""
    path = cfg.train.init_checkpoint
    if not path:
        raise ValueError("--eval-only needs weights: add train.init_checkpoint=<path to .pth>")
    if "://" not in path and not os.path.isfile(path):
        raise FileNotFoundError(f"train.init_checkpoint={path!r} does not exist")
    model = create_ddp_model(instantiate(cfg.model).to(cfg.train.device))
    EvalCheckpointer(model).load(path)
    return do_test(cfg, model)


def check_datasets(cfg, splits=("train", "test")) -> None:
    """
    Before anything is built: every dataset the config names must be registered, evaluation
    takes one, the semantic head's class count and ignore value must be those of the datasets
    (configs read them from the dataset named when they load, so a dataset swapped on the command
    line keeps the old ones), and the image / label pairs of ``splits`` must pass
    :func:`check_pair_headers`. ValueError naming the key, the dataset and the fix.
    """
    registered = DatasetCatalog.list()
    for split in ("train", "test"):
        names = cfg.dataloader[split].dataset.names
        names = [names] if isinstance(names, str) else list(names)
        if split == "test" and len(names) != 1:
            raise ValueError(f"dataloader.test.dataset.names={names}: evaluation takes one dataset; "
                             f"evaluate each with its own command")
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
    if comm.is_main_process():
        for name in found:
            os.remove(os.path.join(output_dir, name))
    comm.synchronize()


def main(args) -> dict:
    cfg = load_lazy_config(args.config_file, args.opts)
    check_datasets(cfg, ("test",) if args.eval_only else ("train", "test"))
    if not args.eval_only and not args.resume:
        check_fresh_output_dir(cfg.train.output_dir, args.overwrite)
    default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="sr_d2")
    return do_eval_only(cfg) if args.eval_only else do_train(args, cfg)


def argument_parser():
    """detectron2's training arguments and ``--overwrite``."""
    parser = default_argument_parser()
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the checkpoints and metrics of a run already in train.output_dir "
                             "and train anew (without it, such a folder is refused)")
    return parser


def invoke_main() -> None:
    args = argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    invoke_main()

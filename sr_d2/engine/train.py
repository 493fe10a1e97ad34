"""
Training and evaluation with detectron2's trainer, hooks and evaluators (LazyConfig), as
``train_net.py`` runs them; ``python -m sr_d2.engine.train`` is the same command.
"""
import contextlib
import logging
import os
from typing import Optional

import torch

from detectron2.config import instantiate
from detectron2.engine import (
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

from ..checkpoint import EvalCheckpointer, TrainCheckpointer
from ..config import load_lazy_config
from ..evaluation import failure_table, sem_seg_table
from ..modeling import SelfRegulation
from .checks import check_datasets, check_fresh_output_dir, output_dir_lock
from .hooks import SRSchedule
from .train_loop import CheckedAMPTrainer, CheckedSimpleTrainer, RemembersLastBatch

__all__ = ["argument_parser", "do_eval_only", "do_test", "do_train", "invoke_main", "main"]

logger = logging.getLogger("sr_d2")


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


def main(args) -> dict:
    cfg = load_lazy_config(args.config_file, args.opts)
    check_datasets(cfg, ("test",) if args.eval_only else ("train", "test"))
    training_here = not args.eval_only and comm.is_main_process()
    with output_dir_lock(cfg.train.output_dir) if training_here else contextlib.nullcontext():
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

#!/usr/bin/env python
"""
Train and evaluate sr-d2 models with detectron2's trainer, hooks and evaluators (LazyConfig).

    python train_net.py --config-file configs/synthetic/sem_seg_fpn_R18.py
    python train_net.py --config-file <cfg> --resume                  # continue in train.output_dir
    python train_net.py --config-file <cfg> --eval-only train.init_checkpoint=<model.pth>
    python train_net.py --config-file <cfg> --num-gpus 8 [--num-machines N --machine-rank R
                                                            --dist-url tcp://<host>:<port>]
"""
import logging
import os

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
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
from sr_d2.config import load_lazy_config
from sr_d2.evaluation import failure_table, sem_seg_table

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
    # Re-seeded so that the data (order and augmentations) depends on train.seed alone, not on how
    # many random numbers building the model drew: variants of a model see the same batches.
    if cfg.train.seed >= 0:
        seed_all_rng(cfg.train.seed + comm.get_rank())
    train_loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)

    last_results = {}

    def evaluate():
        last_results.clear()
        last_results.update(do_test(cfg, model))
        return last_results

    main_process = comm.is_main_process()
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
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
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
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
    DetectionCheckpointer(model).load(path)
    return do_test(cfg, model)


def main(args) -> dict:
    cfg = load_lazy_config(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="sr_d2")
    return do_eval_only(cfg) if args.eval_only else do_train(args, cfg)


def invoke_main() -> None:
    args = default_argument_parser().parse_args()
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

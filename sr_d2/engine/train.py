"""
Training and evaluation with detectron2's trainer, hooks and evaluators (LazyConfig), as
``train_net.py`` runs them; ``python -m sr_d2.engine.train`` is the same command.
"""
import argparse
import contextlib
import json
import logging
import os
import socket
import time
from typing import Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

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
from ..config import load_lazy_config, test_dataset_names, testing_on
from ..evaluation import failure_table, sem_seg_table
from ..modeling import SelfRegulation
from ..utils import written_then_renamed
from .checks import (
    check_datasets,
    check_fresh_output_dir,
    check_resumable,
    check_train_settings,
    check_unfinished,
    output_dir_lock,
)
from .hooks import SRSchedule
from .train_loop import CheckedAMPTrainer, CheckedSimpleTrainer, RemembersLastBatch

__all__ = ["argument_parser", "do_eval_only", "do_test", "do_train", "invoke_main", "launch_on_cpu",
           "launch_runs_on_cpu", "main"]

logger = logging.getLogger("sr_d2")


def _log_results(name: str, results: dict) -> None:
    print_csv_format(results)
    if "sem_seg" in results:
        logger.info("Semantic segmentation on %s:\n%s", name, sem_seg_table(results["sem_seg"]))
        if "BF" in results["sem_seg"]:
            logger.info("Failure modes on %s (recall: share of segments found, by size; BF: boundary "
                        "F-score):\n%s", name, failure_table(results["sem_seg"]))


def do_test(cfg, model) -> dict:
    """
    Run ``cfg.dataloader.evaluator`` on each dataset of ``cfg.dataloader.test``, one at a time, as
    detectron2's ``DefaultTrainer.test`` does: the results of the only dataset, or {dataset name:
    results} for several (stored by the ``EvalHook`` as "<dataset>/sem_seg/mIoU", ...).
    """
    results = {}
    for name in test_dataset_names(cfg):
        with testing_on(cfg, name):
            loader, evaluator = instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
        results[name] = inference_on_dataset(model, loader, evaluator)
        if comm.is_main_process() and results[name]:
            _log_results(name, results[name])
    return results[name] if len(results) == 1 else results


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


def ddp_model(cfg, model):
    """detectron2's ``create_ddp_model`` with ``cfg.train.ddp``; on CPU without device ids (detectron2
    would give the process's local rank, a GPU's index)."""
    ddp = dict(cfg.train.get("ddp", {}))
    if cfg.train.device == "cpu":
        ddp.setdefault("device_ids", None)
    return create_ddp_model(model, **ddp)


def sr_schedule(cfg, model) -> Optional[SRSchedule]:
    """The config's ``sr_schedule`` hook; None (and a warning if the model has SR) when it has none."""
    if "sr_schedule" in cfg:
        return instantiate(cfg.sr_schedule)
    if any(isinstance(m, SelfRegulation) for m in model.modules()):
        logger.warning("The model has SelfRegulation but the config no sr_schedule: SR-F and SR-L weigh "
                       "in fully from the first iteration, with no warm-up")
    return None


def do_train(args, cfg, record: Optional[bytes] = None) -> dict:
    """
    Train ``cfg.model`` for ``cfg.train.max_iter`` iterations, evaluating every
    ``cfg.train.eval_period`` and at the end; returns the last evaluation's results. ``record``:
    the config.yaml of this ``--resume``, written over the run's once its checkpoint is accepted.
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
    model = ddp_model(cfg, model)
    trainer = (CheckedAMPTrainer if cfg.train.amp.enabled else CheckedSimpleTrainer)(
        model, train_loader, optimizer)
    trainer.ignore_value = cfg.model.get("sem_seg_head", {}).get("ignore_value")
    checkpointer = TrainCheckpointer(model, cfg.train.output_dir, trainer=trainer)

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
    start_iter = 0
    if resumed:
        apply_config_hyperparameters(optimizer, config_groups)
        start_iter = trainer.iter + 1
        check_unfinished(cfg.train.output_dir, start_iter, cfg.train.max_iter)
        if record is not None:  # the resume is accepted: its config is the run's record from here on
            _write_whole(os.path.join(cfg.train.output_dir, "config.yaml"), record)
    trainer.train(start_iter, cfg.train.max_iter)
    return last_results


def do_eval_only(cfg) -> dict:
    """Evaluate the weights in ``cfg.train.init_checkpoint``."""
    path = cfg.train.init_checkpoint
    if not path:
        raise ValueError("--eval-only needs weights: add train.init_checkpoint=<path to .pth>")
    if "://" not in path and os.path.isdir(path):
        raise IsADirectoryError(f"train.init_checkpoint={path!r} is a folder: give a weights file in it "
                                f"(e.g. {os.path.join(path, 'model_final.pth')})")
    if "://" not in path and not os.path.isfile(path):
        raise FileNotFoundError(f"train.init_checkpoint={path!r} does not exist")
    model = ddp_model(cfg, instantiate(cfg.model).to(cfg.train.device))
    EvalCheckpointer(model).load(path)
    return do_test(cfg, model)


def evaluation_dir(output_dir: str) -> str:
    """A new folder ``output_dir/eval-<date>-<time>[-k]`` for an evaluation's record (config.yaml,
    log.txt, results.json): the training run's own record in ``output_dir`` stays as it trained."""
    stamp = os.path.join(output_dir, time.strftime("eval-%Y%m%d-%H%M%S"))
    path, k = stamp, 1
    while os.path.exists(path):
        k += 1
        path = f"{stamp}-{k}"
    return path


def _write_whole(path: str, data: bytes) -> None:
    with written_then_renamed(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def main(args) -> dict:
    cfg = load_lazy_config(args.config_file, args.opts)
    check_train_settings(cfg, args.config_file, eval_only=args.eval_only)
    check_datasets(cfg, ("test",) if args.eval_only else ("train", "test"))
    if args.eval_only:  # its own record, beside the training run's
        cfg.train.output_dir = evaluation_dir(cfg.train.output_dir) if comm.is_main_process() else ""
        cfg.train.output_dir = comm.all_gather(cfg.train.output_dir)[0]
    # the main process owns train.output_dir: it locks and checks it (clearing it with --overwrite)
    owner = not args.eval_only and comm.is_main_process()
    with output_dir_lock(cfg.train.output_dir) if owner else contextlib.nullcontext():
        if owner:
            (check_resumable if args.resume else check_fresh_output_dir)(cfg.train.output_dir, args.overwrite)
        record = os.path.join(cfg.train.output_dir, "config.yaml")
        kept = None  # a resumed run's record: this run's replaces it once the resume is accepted
        if owner and args.resume and os.path.isfile(record):
            with open(record, "rb") as f:
                kept = f.read()
        comm.synchronize()
        default_setup(cfg, args)  # writes config.yaml
        resumed_record = None
        if kept is not None and os.path.isfile(record):
            with open(record, "rb") as f:
                resumed_record = f.read()
            _write_whole(record, kept)
        setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="sr_d2")
        if not args.eval_only:
            return do_train(args, cfg, resumed_record)
        results = do_eval_only(cfg)
        if comm.is_main_process():
            with open(os.path.join(cfg.train.output_dir, "results.json"), "w") as f:
                json.dump(results, f, indent=1, default=float)
            logger.info("The evaluation's record (config.yaml, log.txt, results.json): %s", cfg.train.output_dir)
        return results


EXAMPLES = """Examples:
  python train_net.py --config-file configs/synthetic/sr_sem_seg_fpn_R18.py
  python train_net.py --config-file <config> --resume                 # continue in train.output_dir
  python train_net.py --config-file <config> train.max_iter=2000 dataloader.train.total_batch_size=4
  python train_net.py --config-file <config> --eval-only train.init_checkpoint=<model_final.pth>
  python train_net.py --config-file <config> --num-gpus 8
  python train_net.py --config-file <config> --num-gpus 8 --num-machines 2 --machine-rank 0 \\
      --dist-url tcp://<host of rank 0>:<port>                        # and --machine-rank 1 on the other

Overrides (key=value, keys of the LazyConfig file) may stand before or after the options.
Without a GPU, --num-gpus N runs N CPU processes on gloo."""


class _OptionsAfterOverrides(argparse.ArgumentParser):
    """detectron2's parser takes every word after the first override for an override: here an
    option may also follow them (``train.max_iter=10 --resume``)."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, unknown = super().parse_known_args(args, namespace)
        options, overrides = [], []
        for word in parsed.opts:  # an option, its values (no "="), then overrides again
            taking = word.startswith("-") or (options and "=" not in word and options[-1].startswith("-"))
            (options if taking else overrides).append(word)
        if options:
            parsed, more = super().parse_known_args(options, parsed)
            parsed.opts, unknown = overrides, unknown + more
        return parsed, unknown


def argument_parser() -> argparse.ArgumentParser:
    """detectron2's training arguments, sr-d2's examples and ``--overwrite``."""
    parser = _OptionsAfterOverrides(parents=[default_argument_parser()], conflict_handler="resolve",
                                    epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    helps = {"opts": "overrides of the LazyConfig file's keys: key=value (see the examples)",
             "resume": "continue the run in train.output_dir from its last checkpoint"}
    for action in parser._actions:  # detectron2's texts speak of yacs configs and DefaultTrainer
        action.help = helps.get(action.dest, action.help)
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the checkpoints and metrics of a run already in train.output_dir "
                             "and train anew (without it, such a folder is refused)")
    return parser


def _find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_worker(local_rank, main_func, world_size, per_machine, machine_rank, dist_url, args):
    """One CPU process of :func:`launch_on_cpu`: joins the gloo group and makes the local group as
    v0.6's ``launch`` does (v0.6 has no ``comm.create_local_process_group``), then runs ``main_func``."""
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_machine))
    dist.init_process_group("gloo", init_method=dist_url, world_size=world_size,
                            rank=machine_rank * per_machine + local_rank)
    for machine in range(world_size // per_machine):  # every rank makes every group, as detectron2 does
        group = dist.new_group(list(range(machine * per_machine, (machine + 1) * per_machine)))
        if machine == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    comm.synchronize()
    main_func(*args)


def launch_runs_on_cpu() -> bool:
    """Whether the installed detectron2's ``launch`` starts processes without a GPU (on gloo): its
    main does, and makes the local process group with ``comm.create_local_process_group``; v0.6's
    asserts CUDA."""
    return hasattr(comm, "create_local_process_group")


def launch_on_cpu(main_func, per_machine: int, num_machines: int = 1, machine_rank: int = 0,
                  dist_url: str = "auto", args=()) -> None:
    """
    detectron2 v0.6's ``launch`` for a machine without a GPU (where :func:`launch_runs_on_cpu` is
    False): ``per_machine`` processes on gloo, each with its share of the cores.
    """
    if dist_url == "auto":
        if num_machines > 1:
            raise ValueError("--dist-url auto needs one machine: give tcp://<host of rank 0>:<port>")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(_cpu_worker, nprocs=per_machine, daemon=False,
             args=(main_func, per_machine * num_machines, per_machine, machine_rank, dist_url, args))


def invoke_main() -> None:
    args = argument_parser().parse_args()
    multi = args.num_gpus * args.num_machines > 1
    on_cpu = multi and not torch.cuda.is_available() and not launch_runs_on_cpu()
    (launch_on_cpu if on_cpu else launch)(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    invoke_main()

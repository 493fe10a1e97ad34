"""
Cost of Self-Regulation: training-step time and memory of the baseline model and of the SR model
under each preset (and each recipe asked for), plus inference time and test-time parameters, side
by side in one process. Memory on any device: the activations autograd holds for the backward pass
of one training step (:func:`saved_for_backward`); on CUDA also the step's peak allocation.
Variants are timed in interleaved rounds on the same random batch; ratios are to the baseline. ``--mea-only`` adds each preset with SR-F and SR-L off: the
exits' share of the cost. ``--profile`` then runs torch.profiler over the baseline's and the first
SR variant's training steps and prints the operators that take the extra time (CPU time; kernel time
and launches on CUDA).

    python -m sr_d2.tools.benchmark --baseline configs/camvid/sem_seg_fpn_R18.py \\
        --sr configs/camvid/sr_sem_seg_fpn_R18.py --size 224 288 --batch 4
"""
import argparse
import copy
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from tabulate import tabulate

from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.recipes import RECIPES
from sr_d2.modeling import SR_PRESETS
from sr_d2.utils import positive_int


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _batch(n: int, h: int, w: int, num_classes: int, device: str, seed: int = 0) -> List[dict]:
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "image": (torch.rand(3, h, w, generator=g) * 255).to(device),
            "sem_seg": torch.randint(0, num_classes, (h, w), generator=g).to(device),
            "height": h,
            "width": w,
        }
        for _ in range(n)
    ]


def _paired_ratio(times: Sequence[float], baseline_times: Sequence[float]) -> float:
    """Median over rounds of ``times[r] / baseline_times[r]``."""
    return statistics.median(t / b for t, b in zip(times, baseline_times))


def _timed(step: Callable[[], None], iters: int, device: str) -> float:
    """Mean seconds per call of ``step`` over ``iters`` calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return (time.perf_counter() - start) / iters


def saved_for_backward(model: torch.nn.Module, inputs: List[dict]) -> int:
    """
    Bytes of the tensors autograd saves in ``model(inputs)``'s forward for its backward: each
    storage counted once, parameters not counted. Activations are freed as the backward runs,
    so this is what a training step adds to the model's weights, gradients and optimizer state at
    its peak, measured alike on every device.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        losses = model(inputs)
    sum(losses.values()).backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values())


def profile_steps(step: Callable[[], None], iters: int, device: str) -> Dict[str, Tuple[float, float]]:
    """
    {operator: (calls per step, self ms per step)} over ``iters`` calls of ``step`` under
    torch.profiler: CPU time of each operator on CPU; on CUDA, device time, and the kernels
    (launches) under the key "kernel launches".
    """
    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(iters):
            step()
        _sync(device)
    ops: Dict[str, Tuple[float, float]] = {}
    launches = 0
    for event in prof.key_averages():
        if cuda and event.device_type == DeviceType.CUDA:
            launches += event.count
            continue
        self_us = event.self_device_time_total if cuda else event.self_cpu_time_total
        ops[event.key] = (event.count / iters, self_us / iters / 1e3)
    if cuda:
        ops["kernel launches"] = (launches / iters, 0.0)
    return ops


def benchmark(
    baseline_config: str,
    sr_config: str,
    *,
    size: Sequence[int],
    batch: int,
    iters: int,
    rounds: int,
    device: str,
    presets: Sequence[str],
    recipes: Sequence[str] = (),
    mea_only: bool = False,
    amp: bool = False,
    profiled: bool = False,
) -> List[Dict]:
    """
    Returns one dict per variant: name, train_s, infer_s (medians over the rounds), train_ratio,
    infer_ratio (medians over the rounds of the ratio to the baseline's time in the same round, so
    that a drift of the machine's speed between rounds cancels), test_params, saved_mib and
    saved_ratio (:func:`saved_for_backward` in MiB, and to the baseline's), peak_mib (CUDA only);
    with ``amp``, steps run under autocast as ``train.amp.enabled=True`` trains (float16 and a
    gradient scaler on CUDA, as detectron2's AMPTrainer; bfloat16 on CPU);
    each of ``recipes`` (``sr_d2.recipes``: its overrides of the SR config) as "recipe <name>";
    with ``mea_only``, each preset also as "SR <preset> MEA only" (SR-F and SR-L weighing 0);
    with ``profiled``, the baseline's and the first SR variant's dicts also hold "profile",
    :func:`profile_steps` of ``iters`` training steps.
    """
    variants = {"baseline": load_lazy_config(baseline_config).model}
    sr_model = load_lazy_config(sr_config).model
    for flag, path, model, sr in (("--baseline", baseline_config, variants["baseline"], False),
                                  ("--sr", sr_config, sr_model, True)):
        if ("self_regulation" in model) != sr:
            raise ValueError(f"{flag} {path}: its model {'has no' if sr else 'has'} self_regulation; --baseline "
                             f"is the plain config, --sr its SR twin (sr_<baseline>.py): are they swapped?")
    for preset in presets:
        cfg = copy.deepcopy(sr_model)
        for key, value in SR_PRESETS[preset].items():
            cfg.self_regulation[key] = value
        variants[f"SR {preset}"] = cfg
        if mea_only:
            variants[f"SR {preset} MEA only"] = mea = copy.deepcopy(cfg)
            mea.self_regulation.weight_dict.loss_sr_f = mea.self_regulation.weight_dict.loss_sr_l = 0.0
    for recipe in recipes:
        variants[f"recipe {recipe}"] = load_lazy_config(sr_config, RECIPES[recipe].overrides).model

    num_classes = variants["baseline"].sem_seg_head.num_classes
    inputs = _batch(batch, size[0], size[1], num_classes, device)
    models, optimizers = {}, {}
    for name, cfg in variants.items():
        torch.manual_seed(0)
        models[name] = instantiate(cfg).to(device).train()
        optimizers[name] = torch.optim.SGD(models[name].parameters(), lr=1e-4, momentum=0.9)

    device_type = device.split(":")[0]
    autocast = torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16,
                              enabled=amp)
    scaler = torch.amp.GradScaler(device_type, enabled=amp and device_type == "cuda")

    def train_step(name):
        with autocast:
            losses = models[name](inputs)
        optimizers[name].zero_grad()
        scaler.scale(sum(losses.values())).backward()
        scaler.step(optimizers[name])
        scaler.update()

    def infer_step(name):
        with torch.no_grad(), autocast:
            models[name](inputs)

    train_times = {name: [] for name in models}
    infer_times = {name: [] for name in models}
    peak = {}
    saved = {}
    for name, model in models.items():  # warm-up (allocator, kernels)
        train_step(name)
        with autocast:
            saved[name] = saved_for_backward(model, inputs) / 2**20
        model.eval()
        infer_step(name)
        model.train()
    for _ in range(rounds):
        for name, model in models.items():
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            model.train()
            train_times[name].append(_timed(lambda: train_step(name), iters, device))
            if device.startswith("cuda"):
                peak[name] = max(peak.get(name, 0), torch.cuda.max_memory_allocated() / 2**20)
            model.eval()
            infer_times[name].append(_timed(lambda: infer_step(name), iters, device))

    profiles = {}
    if profiled:
        for name in list(models)[:2]:
            models[name].train()
            profiles[name] = profile_steps(lambda: train_step(name), iters, device)

    results = []
    for name, model in models.items():
        sr = getattr(model, "self_regulation", None)
        sr_params = sum(p.numel() for p in sr.parameters()) if sr is not None else 0
        results.append(
            dict(
                name=name,
                train_s=statistics.median(train_times[name]),
                infer_s=statistics.median(infer_times[name]),
                train_ratio=_paired_ratio(train_times[name], train_times["baseline"]),
                infer_ratio=_paired_ratio(infer_times[name], infer_times["baseline"]),
                test_params=sum(p.numel() for p in model.parameters()) - sr_params,
                saved_mib=saved[name],
                saved_ratio=saved[name] / saved["baseline"],
                peak_mib=peak.get(name),
            )
        )
        if name in profiles:
            results[-1]["profile"] = profiles[name]
    return results


def format_results(results: List[Dict]) -> str:
    base = results[0]
    rows = []
    for r in results:
        row = [
            r["name"],
            f"{r['train_s'] * 1e3:.1f}",
            f"{r['train_ratio']:.2f}x",
            f"{r['infer_s'] * 1e3:.1f}",
            f"{r['infer_ratio']:.2f}x",
            f"{r['test_params']:,}",
            f"{r['saved_mib']:.0f}",
            f"{r['saved_ratio']:.2f}x",
        ]
        if r["peak_mib"] is not None:
            row += [f"{r['peak_mib']:.0f}", f"{r['peak_mib'] / base['peak_mib']:.2f}x"]
        rows.append(row)
    headers = ["variant", "train step ms", "ratio", "inference ms", "ratio", "test-time params",
               "saved for backward MiB", "ratio"]
    if base["peak_mib"] is not None:
        headers += ["train peak MiB", "ratio"]
    return tabulate(rows, headers=headers, tablefmt="pipe")


def format_profile(baseline: Dict[str, Tuple[float, float]], sr: Dict[str, Tuple[float, float]],
                   top: int = 15) -> str:
    """
    The ``top`` operators by the time per step SR adds to the baseline (two
    :func:`profile_steps` results), then the kernel launches (CUDA) and the total.
    """
    def extra(name):
        return sr.get(name, (0, 0.0))[1] - baseline.get(name, (0, 0.0))[1]

    ops = sorted((set(baseline) | set(sr)) - {"kernel launches"}, key=extra, reverse=True)[:top]
    rows = []
    for name in ops + [n for n in ("kernel launches",) if n in sr]:
        (base_calls, base_ms), (sr_calls, sr_ms) = baseline.get(name, (0, 0.0)), sr.get(name, (0, 0.0))
        rows.append([name, f"{base_calls:g}", f"{base_ms:.2f}", f"{sr_calls:g}", f"{sr_ms:.2f}",
                     f"{extra(name):+.2f}"])
    calls = [sum(c for k, (c, _) in p.items() if k != "kernel launches") for p in (baseline, sr)]
    totals = [sum(ms for _, ms in p.values()) for p in (baseline, sr)]
    rows.append(["all operators", f"{calls[0]:g}", f"{totals[0]:.2f}", f"{calls[1]:g}", f"{totals[1]:.2f}",
                 f"{totals[1] - totals[0]:+.2f}"])
    headers = ["operator (per step)", "baseline calls", "ms", "SR calls", "ms", "SR - baseline ms"]
    return tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="LazyConfig of the baseline model")
    parser.add_argument("--sr", required=True, help="LazyConfig of its SR twin")
    parser.add_argument("--size", type=positive_int, nargs=2, default=(224, 288), metavar=("H", "W"))
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument("--iters", type=positive_int, default=5, help="steps per variant per round")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=list(SR_PRESETS), choices=list(SR_PRESETS))
    parser.add_argument("--recipes", nargs="+", default=[], choices=list(RECIPES),
                        help="also time these recipes (sr_d2.recipes) of the SR config")
    parser.add_argument("--mea-only", action="store_true",
                        help="also time each preset with SR-F and SR-L off (the exits alone)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision, as train.amp.enabled=True (float16 on CUDA, bfloat16 on CPU)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile --iters training steps of the baseline and the first SR variant")
    args = parser.parse_args(argv)
    try:
        results = benchmark(
            args.baseline, args.sr, size=args.size, batch=args.batch, iters=args.iters,
            rounds=args.rounds, device=args.device, presets=args.presets, recipes=args.recipes,
            mea_only=args.mea_only, amp=args.amp, profiled=args.profile,
        )
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"benchmark: {e}")
    print(f"device={args.device} amp={args.amp} threads={torch.get_num_threads()} batch={args.batch} "
          f"size={args.size[0]}x{args.size[1]} iters={args.iters} rounds={args.rounds} (median)")
    print(format_results(results))
    if args.profile:
        print(f"\nWhere {results[1]['name']}'s extra time goes ({args.iters} steps profiled, self time):")
        print(format_profile(results[0]["profile"], results[1]["profile"]))


if __name__ == "__main__":
    main()

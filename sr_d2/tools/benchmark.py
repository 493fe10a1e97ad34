"""
Cost of Self-Regulation: training-step time (and peak memory on CUDA) of the baseline model and of
the SR model under each preset, plus inference time and test-time parameters, side by side in one
process. Variants are timed in interleaved rounds on the same random batch; ratios are to the
baseline. ``--mea-only`` adds each preset with SR-F and SR-L off: the exits' share of the cost.

    python -m sr_d2.tools.benchmark --baseline configs/camvid/sem_seg_fpn_R18.py \\
        --sr configs/camvid/sr_sem_seg_fpn_R18.py --size 224 288 --batch 4
"""
import argparse
import copy
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
from tabulate import tabulate

from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.modeling import SR_PRESETS


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


def _timed(step: Callable[[], None], iters: int, device: str) -> float:
    """Mean seconds per call of ``step`` over ``iters`` calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return (time.perf_counter() - start) / iters


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
    mea_only: bool = False,
    amp: bool = False,
) -> List[Dict]:
    """
    Returns one dict per variant: name, train_s, infer_s, test_params, peak_mib (CUDA only);
    with ``amp``, steps run under autocast as ``train.amp.enabled=True`` trains (float16 and a
    gradient scaler on CUDA, as detectron2's AMPTrainer; bfloat16 on CPU);
    with ``mea_only``, each preset also as "SR <preset> MEA only" (SR-F and SR-L weighing 0).
    """
    variants = {"baseline": load_lazy_config(baseline_config).model}
    sr_model = load_lazy_config(sr_config).model
    for preset in presets:
        cfg = copy.deepcopy(sr_model)
        for key, value in SR_PRESETS[preset].items():
            cfg.self_regulation[key] = list(value) if isinstance(value, tuple) else value
        variants[f"SR {preset}"] = cfg
        if mea_only:
            variants[f"SR {preset} MEA only"] = mea = copy.deepcopy(cfg)
            mea.self_regulation.weight_dict.loss_sr_f = mea.self_regulation.weight_dict.loss_sr_l = 0.0

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
    for name, model in models.items():  # warm-up (allocator, kernels)
        train_step(name)
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

    results = []
    for name, model in models.items():
        sr = getattr(model, "self_regulation", None)
        sr_params = sum(p.numel() for p in sr.parameters()) if sr is not None else 0
        results.append(
            dict(
                name=name,
                train_s=statistics.median(train_times[name]),
                infer_s=statistics.median(infer_times[name]),
                test_params=sum(p.numel() for p in model.parameters()) - sr_params,
                peak_mib=peak.get(name),
            )
        )
    return results


def format_results(results: List[Dict]) -> str:
    base = results[0]
    rows = []
    for r in results:
        row = [
            r["name"],
            f"{r['train_s'] * 1e3:.1f}",
            f"{r['train_s'] / base['train_s']:.2f}x",
            f"{r['infer_s'] * 1e3:.1f}",
            f"{r['infer_s'] / base['infer_s']:.2f}x",
            f"{r['test_params']:,}",
        ]
        if r["peak_mib"] is not None:
            row += [f"{r['peak_mib']:.0f}", f"{r['peak_mib'] / base['peak_mib']:.2f}x"]
        rows.append(row)
    headers = ["variant", "train step ms", "ratio", "inference ms", "ratio", "test-time params"]
    if base["peak_mib"] is not None:
        headers += ["train peak MiB", "ratio"]
    return tabulate(rows, headers=headers, tablefmt="pipe")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="LazyConfig of the baseline model")
    parser.add_argument("--sr", required=True, help="LazyConfig of its SR twin")
    parser.add_argument("--size", type=int, nargs=2, default=(224, 288), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=5, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=list(SR_PRESETS), choices=list(SR_PRESETS))
    parser.add_argument("--mea-only", action="store_true",
                        help="also time each preset with SR-F and SR-L off (the exits alone)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision, as train.amp.enabled=True (float16 on CUDA, bfloat16 on CPU)")
    args = parser.parse_args(argv)
    results = benchmark(
        args.baseline, args.sr, size=args.size, batch=args.batch, iters=args.iters,
        rounds=args.rounds, device=args.device, presets=args.presets, mea_only=args.mea_only, amp=args.amp,
    )
    print(f"device={args.device} amp={args.amp} threads={torch.get_num_threads()} batch={args.batch} "
          f"size={args.size[0]}x{args.size[1]} iters={args.iters} rounds={args.rounds} (median)")
    print(format_results(results))


if __name__ == "__main__":
    main()

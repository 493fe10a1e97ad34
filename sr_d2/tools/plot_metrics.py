"""
Training curves from detectron2's ``metrics.json``: one panel per loss term (the head's, the
exits', SR-F, SR-L, total), for SR's scale and its teacher's accuracy, and per validation
metric, the runs overlaid; or, with ``--windows``, a table of each loss term's mean over
spans of the iterations (runs given one name, e.g. the seeds of a variant, averaged).

    python -m sr_d2.tools.plot_metrics output/synthetic/sem_seg_fpn_R18 output/synthetic/sr_sem_seg_fpn_R18 \\
        --names baseline SR --output curves.png --windows 4
"""
import argparse
import difflib
import json
import math
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sr_d2.utils import check_output, written_then_renamed  # noqa: E402

__all__ = ["DEFAULT_METRICS", "loss_table", "plot_metrics", "read_metrics"]

DEFAULT_METRICS = (
    "sem_seg/mIoU", "sem_seg/mIoU-thin", "sem_seg/recall-small", "sem_seg/BF", "sem_seg/mislabel-large",
)  # fmt: skip

HEAD_LOSS = "loss_sem_seg"
# Logged by SelfRegulation: the factor on SR-F and SR-L (0 during the warm-up) and the teacher's accuracy.
SR_SWITCH = ("sr_scale", "sr_teacher_accuracy")

Series = Dict[str, List[Tuple[int, float]]]


def read_metrics(run: str) -> Series:
    """
    ``run``'s metrics.json (``run`` is the file or its folder) as {key: [(iteration, value)]},
    sorted by iteration; a key logged twice at one iteration (a resumed run) keeps the last value.
    A run that logged one loss term (only as "total_loss") has it as "loss_sem_seg" too.
    """
    path = os.path.join(run, "metrics.json") if os.path.isdir(run) else run
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} does not exist (detectron2 writes metrics.json in train.output_dir)")
    values: Dict[str, Dict[int, float]] = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                iteration = int(record["iteration"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number} is not a detectron2 metrics record: {e}") from None
            for key, value in record.items():
                if key != "iteration" and isinstance(value, (int, float)):
                    values.setdefault(key, {})[iteration] = float(value)
    if not values:
        raise ValueError(f"{path!r} holds no metrics")
    # detectron2 logs a single loss term only as total_loss: that of a plain SemanticSegmentor
    if "total_loss" in values and not any(k.startswith("loss_") for k in values):
        values[HEAD_LOSS] = values["total_loss"]
    return {k: sorted(v.items()) for k, v in values.items()}


def plot_metrics(
    runs: Sequence[str], names: Sequence[str], output: str, metrics: Sequence[str] = DEFAULT_METRICS
) -> List[str]:
    """
    Write the curves of ``runs`` (labelled ``names``) to the PNG ``output``: every loss term any
    run logged, SR's switch-on (``SR_SWITCH``), then each of ``metrics`` that some run logged (on
    each test set: "sem_seg/mIoU" plots "<dataset>/sem_seg/mIoU" of each). ValueError naming a
    metric given that no run logged. Returns the panels' keys.
    """
    if len(names) != len(runs):
        raise ValueError(f"{len(names)} names for {len(runs)} runs")
    series = [read_metrics(r) for r in runs]
    losses = sorted({k for s in series for k in s if k.startswith("loss_")})
    keys = ["total_loss"] * any("total_loss" in s for s in series) + losses
    keys += [k for k in SR_SWITCH if any(k in s for s in series)]
    logged = sorted({k for s in series for k in s if "/" in k})  # evaluations: "<task>/<metric>"
    # a metric of a config with several test sets is logged as "<dataset>/<task>/<metric>" each
    found = {m: [k for k in logged if k == m or k.endswith("/" + m)] for m in metrics}
    unknown = [m for m in metrics if not found[m] and m not in DEFAULT_METRICS]
    if unknown:
        close = {m: difflib.get_close_matches(m, logged, n=2) for m in unknown}
        hints = "; ".join(f"{m}: did you mean {', '.join(c)}?" for m, c in close.items() if c)
        raise ValueError(f"--metrics {' '.join(unknown)}: no run logged it" + (f" ({hints})" if hints else "")
                         + f"; the runs' metrics: {', '.join(logged[:12]) or 'none'}"
                         + (" ..." if len(logged) > 12 else ""))
    keys += [k for m in metrics for k in found[m]]
    if not keys:
        raise ValueError(f"none of {list(runs)} logged losses or any of {list(metrics)}")
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for i, (name, s) in enumerate(zip(names, series)):
            if key in s:  # a run keeps its colour in every panel, also where it is the only one
                x, y = zip(*s[key])
                ax.plot(x, y, marker="o" if len(x) < 10 else None, label=name, color=f"C{i}")
        ax.set_title(key)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with written_then_renamed(output, os.path.splitext(output)[1]) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return keys


def loss_table(runs: Sequence[str], names: Sequence[str], windows: int) -> str:
    """
    A markdown table: for each name and each of ``windows`` equal spans of the iterations (up to
    the last any run logged), the mean of every loss term over the records in the span; where
    several runs share a name, the mean of their means. A term a run did not log is left blank.
    """
    if len(names) != len(runs):
        raise ValueError(f"{len(names)} names for {len(runs)} runs")
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    series = [read_metrics(r) for r in runs]
    losses = sorted({k for s in series for k in s if k.startswith("loss_")})
    if not losses:
        raise ValueError(f"none of {list(runs)} logged a loss term (loss_*)")
    end = 1 + max(i for s in series for k in losses if k in s for i, _ in s[k])
    edges = [round(w * end / windows) for w in range(windows + 1)]
    lines = ["| run | iterations | " + " | ".join(losses) + " |", "| --- " * (len(losses) + 2) + "|"]
    for name in dict.fromkeys(names):
        group = [s for n, s in zip(names, series) if n == name]
        for lo, hi in zip(edges, edges[1:]):
            cells = []
            for key in losses:
                means = [sum(v) / len(v) for v in
                         ([v for i, v in s[key] if lo <= i < hi] for s in group if key in s) if v]
                cells.append(f"{sum(means) / len(means):.4f}" if means else "")
            lines.append(f"| {name} | {lo}-{hi - 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _default_names(runs: Sequence[str]) -> List[str]:
    """Each run's path below the runs' common folder ("baseline/seed0"); a lone run's folder name."""
    paths = [os.path.abspath(r) for r in runs]
    if len(set(paths)) < 2:
        return [os.path.basename(p) for p in paths]
    common = os.path.commonpath(paths)
    return [os.path.relpath(p, common) for p in paths]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="train.output_dir of each run (or its metrics.json)")
    parser.add_argument("--names", nargs="+",
                        help="name of each run (default: its path below the runs' common folder)")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS),
                        help="validation metrics to plot (keys of metrics.json)")
    parser.add_argument("--output", help="image to write (.png, .pdf, ...)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--windows", type=int,
                        help="print each loss term's mean over this many spans of the iterations")
    args = parser.parse_args(argv)
    if args.output is None and args.windows is None:
        parser.error("give --output (the curves), --windows (the loss table) or both")
    names = args.names or _default_names(args.runs)
    try:
        if args.windows is not None:
            print(loss_table(args.runs, names, args.windows))
        if args.output is not None:
            check_output(args.output, [os.path.join(r, "metrics.json") if os.path.isdir(r) else r
                                       for r in args.runs], args.overwrite)
            keys = plot_metrics(args.runs, names, args.output, args.metrics)
            print(f"wrote {args.output}: {', '.join(keys)}")
    except (OSError, ValueError) as e:
        sys.exit(f"plot_metrics: {e}")


if __name__ == "__main__":
    main()

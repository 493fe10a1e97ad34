"""
Ablation runner: trains each variant x seed with ``sr_d2.engine.train`` (``train_net.py``'s
loop, each run in a process of its own), evaluates it, and summarises the final evaluations as
mean and spread per variant, each test set of the config apart (CamVid's val and test).

    python -m sr_d2.tools.ablate --config-file configs/camvid/sr_sem_seg_fpn_R18.py \\
        --variants baseline mea-only sr-d2 --seeds 0 1 2 --jobs 2 --output-dir output/ablate/camvid

Each run trains in ``<output-dir>/<variant>/seed<k>`` with ``train.seed=k``. The runner resumes:
a run whose result is in the results file (``--results``, default ``<output-dir>/results.json``;
a study kept in the repository names its file there) is skipped, a run killed half-way resumes
from its last checkpoint (``--resume``). After each finished run the results file, ``results.md``
(markdown tables) and ``results.png`` beside it are rewritten. Variants are the names in ``VARIANTS``
or ``--define NAME "key=value ..."``; "baseline" trains the SR config's baseline file (the same
name without ``sr_``), every other variant the SR config with its overrides. A panoptic config
(``configs/synthetic/sr_panoptic_fpn_R18.py``) is run the same way; its tables add PQ and AP.
The same-seed differences are to "baseline" and "mea-only" unless ``--references`` names others
(e.g. the controls of a study); a call with nothing left to train rewrites the summary.
"""
import argparse
import ctypes
import glob
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sr_d2.recipes import RECIPES  # noqa: E402
from sr_d2.utils import written_then_renamed  # noqa: E402

__all__ = ["METRICS", "VARIANTS", "ablate", "datasets_scored", "paired_stats", "parse_args", "scored_on",
           "summarize", "t_quantile"]

# name -> overrides of the SR config: the recipes (``sr_d2.recipes``); "baseline" is the baseline
# config itself.
VARIANTS: Dict[str, List[str]] = {"baseline": [], **{name: list(r.overrides) for name, r in RECIPES.items()}}

REFERENCES = ("baseline", "mea-only")

# metric key in detectron2's results -> column title; a table shows the columns its runs have
# (panoptic configs add PQ and AP to their semantic output's metrics).
METRICS = {
    "sem_seg/mIoU": "mIoU",
    "sem_seg/mIoU-thin": "mIoU thin",
    "sem_seg/recall-small": "recall small",
    "sem_seg/BF": "BF",
    "sem_seg/mislabel-large": "mislabel large",
    "panoptic_seg/PQ": "PQ",
    "panoptic_seg/PQ_th": "PQ things",
    "panoptic_seg/PQ_st": "PQ stuff",
    "bbox/AP": "box AP",
    "segm/AP": "mask AP",
}
_KEPT = ("sem_seg/", "panoptic_seg/", "bbox/", "segm/")


def baseline_config(sr_config: str) -> str:
    """configs/x/sr_name.py -> configs/x/name.py (must exist)."""
    folder, name = os.path.split(sr_config)
    if not name.startswith("sr_"):
        raise ValueError(f"--config-file {sr_config!r}: an SR config is named sr_<baseline>.py")
    path = os.path.join(folder, name[3:])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"baseline config {path!r} of {sr_config!r} does not exist")
    return path


def _is_metric(key: str) -> bool:
    """A semantic, panoptic, box or mask metric: "sem_seg/mIoU", or "<dataset>/sem_seg/mIoU" where
    a config evaluates several test sets (detectron2 stores each under its dataset's name)."""
    return key.startswith(_KEPT) or key.partition("/")[2].startswith(_KEPT)


def final_result(run_dir: str) -> Optional[Dict[str, float]]:
    """
    The "iteration" and the semantic, panoptic, box and mask metrics (of every test set) of the
    last evaluation in ``run_dir``'s metrics.json.
    """
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    last = None
    with open(path) as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if any(_is_metric(k) for k in record):
                    last = record
    if last is None:
        return None
    return {k: v for k, v in last.items() if k == "iteration" or _is_metric(k)}


def finished_result(run_dir: str) -> Optional[Dict[str, float]]:
    """:func:`final_result` of a run that finished (its last checkpoint model_final.pth, evaluated
    after its last training step), else None: such a run is read, not resumed."""
    last = os.path.join(run_dir, "last_checkpoint")
    if not os.path.isfile(last):
        return None
    with open(last) as f:
        if f.read().strip() != "model_final.pth":
            return None
    result = final_result(run_dir)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        trained = [r["iteration"] for r in map(json.loads, filter(str.strip, f)) if "total_loss" in r]
    return result if result is not None and result["iteration"] >= max(trained, default=0) else None


def datasets_scored(results: Dict) -> List[str]:
    """The test sets the runs of ``results`` were scored on: the dataset names of "<dataset>/sem_seg/mIoU"
    keys ("" for the unnamed one of a config with one test set); the unnamed and "*_val" ones (where a
    study chooses) first, then the others by name."""
    names: Dict[str, None] = {}
    for runs in results.values():
        for run in runs.values():
            for key in run:
                if _is_metric(key):
                    names["" if key.startswith(_KEPT) else key.partition("/")[0]] = None
    return sorted(names, key=lambda name: (name != "" and not name.endswith("_val"), name))


def scored_on(results: Dict, name: str) -> Dict:
    """``results`` as scored on test set ``name`` ("" the unnamed one): {variant: {seed: {metric:
    value}}} with the dataset's prefix taken off the keys; runs not scored on it are left out."""
    prefix = f"{name}/" if name else ""
    view = {}
    for variant, runs in results.items():
        for seed, run in runs.items():
            metrics = {k[len(prefix):]: v for k, v in run.items()
                       if k.startswith(prefix) and k[len(prefix):].startswith(_KEPT)}
            if metrics:
                view.setdefault(variant, {})[seed] = metrics
    return view


def _write_json(path: str, data) -> None:
    with written_then_renamed(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def summarize(results: Dict[str, Dict[str, Dict[str, float]]], variants: Sequence[str]) -> List[Dict]:
    """
    results: {variant: {"seed<k>": {metric: value}}}. Returns one row per variant with runs:
    {"variant", "seeds", metric: (mean, sample standard deviation or None for one seed)}.
    """
    rows = []
    for variant in variants:
        runs = results.get(variant, {})
        if not runs:
            continue
        row = {"variant": variant, "seeds": sorted(runs)}
        for key in METRICS:
            values = [r[key] for r in runs.values() if key in r]
            if not values:
                continue
            mean = sum(values) / len(values)
            std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                   if len(values) > 1 else None)
            row[key] = (mean, std)
        rows.append(row)
    return rows


def _columns(rows: List[Dict]) -> List[str]:
    """The keys of ``METRICS`` that some row has, in its order."""
    return [key for key in METRICS if any(key in row for row in rows)]


def markdown_table(rows: List[Dict]) -> str:
    """Mean +/- sample standard deviation over seeds (the number of seeds in the second column)."""
    columns = _columns(rows)
    lines = ["| variant | seeds | " + " | ".join(METRICS[k] for k in columns) + " |",
             "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = []
        for key in columns:
            if key not in row:
                cells.append("")
                continue
            mean, std = row[key]
            cells.append(f"{mean:.1f}" + (f" +/- {std:.1f}" if std is not None else ""))
        lines.append(f"| {row['variant']} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom (its CDF
    integrated by Simpson's rule, inverted by bisection)."""
    if df < 1:
        raise ValueError(f"t_quantile: df must be >= 1, got {df}")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def mass(t: float, steps: int = 2000) -> float:  # P(0 < T < t)
        h = t / steps
        f = [math.exp(log_c - (df + 1) / 2 * math.log1p((i * h) ** 2 / df)) for i in range(steps + 1)]
        return h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))

    low, high = 0.0, 1.0
    while mass(high) < level / 2:
        low, high = high, 2 * high
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if mass(mid) < level / 2 else (low, mid)
    return (low + high) / 2


def paired_stats(diffs: Sequence[float]) -> Dict:
    """
    Same-seed differences -> {"n", "mean", "se" (standard error of the mean), "low", "high" (its
    t-based 95% interval), "above", "below" (seeds on each side of 0), "reading"}: "supported"
    when the interval excludes 0, "a direction" when it does not but every seed (2 or more) is on
    one side, else "within noise"; "one seed" for one. se, low, high are None for one seed.
    """
    n = len(diffs)
    mean = sum(diffs) / n
    above, below = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    stats = dict(n=n, mean=mean, se=None, low=None, high=None, above=above, below=below, reading="one seed")
    if n > 1:
        se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n)
        half = t_quantile(n - 1) * se
        stats.update(se=se, low=mean - half, high=mean + half)
        if mean - half > 0 or mean + half < 0:
            stats["reading"] = "supported"
        elif above == n or below == n:
            stats["reading"] = "a direction"
        else:
            stats["reading"] = "within noise"
    return stats


def _paired_cell(stats: Dict) -> str:
    """'+1.0 +/- 0.5 [-1.2, +3.2] 2/1': mean +/- standard error, 95% interval, seeds above/below 0."""
    if stats["se"] is None:
        return f"{stats['mean']:+.1f}"
    return (f"{stats['mean']:+.1f} +/- {stats['se']:.1f} [{stats['low']:+.1f}, {stats['high']:+.1f}] "
            f"{stats['above']}/{stats['below']}")


def paired_table(
    results: Dict, variants: Sequence[str], references: Sequence[str] = REFERENCES
) -> str:
    """
    Differences on the same seed (same batches) of each variant to each reference (an earlier
    reference is not compared again to a later one): per metric the :func:`paired_stats` as
    mean +/- standard error [95% interval] seeds above/below, and the reading of the headline
    metric (PQ where the runs have it, else mIoU). "" when no variant shares a seed with a reference.
    """
    columns = _columns(summarize(results, list(results)))
    headline = next((k for k in ("panoptic_seg/PQ", "sem_seg/mIoU") if k in columns), None)
    present = [r for r in references if r in results]
    lines = []
    for i, reference in enumerate(present):
        for variant in variants:
            seeds = sorted(set(results.get(variant, {})) & set(results[reference]))
            if variant in present[: i + 1] or not seeds:
                continue
            pairs = [(results[variant][s], results[reference][s]) for s in seeds]
            cells, reading = [], ""
            for key in columns:
                diffs = [a[key] - b[key] for a, b in pairs if key in a and key in b]
                stats = paired_stats(diffs) if diffs else None
                cells.append(_paired_cell(stats) if stats else "")
                if key == headline and stats:
                    reading = stats["reading"]
            lines.append(f"| {variant} - {reference} | {len(seeds)} | " + " | ".join(cells) + f" | {reading} |")
    if not lines:
        return ""
    title = f"reading ({METRICS[headline]})" if headline else "reading"
    header = ["| comparison | seeds | " + " | ".join(METRICS[k] for k in columns) + f" | {title} |",
              "| --- | --- | " + " | ".join("---" for _ in columns) + " | --- |"]
    return "\n".join(header + lines) + "\n"


def class_table(results: Dict, variants: Sequence[str]) -> str:
    """Mean IoU of each class over seeds ("sem_seg/IoU-<class>"), a row per variant; "" without any."""
    classes = sorted({k[len("sem_seg/IoU-"):] for runs in results.values() for r in runs.values()
                      for k in r if k.startswith("sem_seg/IoU-")})
    if not classes:
        return ""
    lines = ["| variant | " + " | ".join(classes) + " |", "| --- | " + " | ".join("---" for _ in classes) + " |"]
    for variant in variants:
        runs = list(results.get(variant, {}).values())
        if not runs:
            continue
        cells = []
        for c in classes:
            values = [r[f"sem_seg/IoU-{c}"] for r in runs if f"sem_seg/IoU-{c}" in r]
            cells.append(f"{sum(values) / len(values):.1f}" if values else "")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(panels: Sequence[Tuple[str, List[Dict], Dict]], output: str) -> None:
    """A row per (test set name, :func:`summarize` rows, its results), a panel per metric: each seed
    as a dot, the mean as a bar."""
    width = max(len(_columns(rows)) for _, rows, _ in panels)
    fig, axes = plt.subplots(len(panels), width, figsize=(3.2 * width, 3.4 * len(panels)), squeeze=False)
    for ax_row, (name, rows, results) in zip(axes, panels):
        names = [row["variant"] for row in rows]
        columns = _columns(rows)
        for ax in ax_row[len(columns):]:
            ax.axis("off")
        for ax, key in zip(ax_row, columns):
            for x, row in enumerate(rows):
                if key not in row:
                    continue
                ax.bar(x, row[key][0], color="#9ecae1", width=0.6)
                values = [r[key] for r in results[row["variant"]].values() if key in r]
                ax.plot([x] * len(values), values, "k.", markersize=6)
            ax.set_title(f"{METRICS[key]} ({name})" if name else METRICS[key], fontsize=9)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
            lows = [min(r[key] for r in results[n].values() if key in r) for n in names if key in
                    rows[names.index(n)]]
            if lows:
                ax.set_ylim(bottom=max(0.0, min(lows) - 5))
    fig.tight_layout()
    fig.savefig(output, dpi=90)
    plt.close(fig)


def _die_with_parent() -> None:
    """In a child before it runs (Linux): SIGTERM when ablate dies, killed included."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the children outlive a killed ablate


def _check_request(variants: Sequence[str], seeds: Sequence[int], jobs: int, table: Dict) -> None:
    """ValueError naming what cannot be run: an unknown, path-like or repeated variant, a repeated
    or negative seed, a job count below 1."""
    unknown = [v for v in variants if v not in table]
    if unknown:
        raise ValueError(f"unknown variants {unknown}: known are {sorted(table)} (or --define NAME ...)")
    bad = [v for v in dict.fromkeys(variants) if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v)]
    if bad:
        raise ValueError(f"variant names {bad} are not names: a variant trains in <output-dir>/<name>, "
                         f"so a name is letters, digits, '.', '_' and '-', not a path")
    for what, values in (("variants", variants), ("seeds", seeds)):
        repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
        if repeated:
            raise ValueError(f"--{what} {' '.join(repeated)} given twice: two runs would train in one folder")
    negative = [s for s in seeds if s < 0]
    if negative:
        raise ValueError(f"--seeds {' '.join(map(str, negative))}: a seed is 0 or more (train.seed < 0 "
                         f"would draw a random one, which no rerun repeats)")
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: at least 1 run at a time")


def _read_results(path: str) -> Dict:
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            results = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"--results {path} is not JSON ({e}): repair it or give another file") from None
    if not isinstance(results, dict):
        raise ValueError(f"--results {path} holds a {type(results).__name__}, not ablate's results")
    return results


def _run_command(config: str, run_dir: str, seed: int, overrides: Sequence[str], resume: bool) -> List[str]:
    cmd = [sys.executable, "-m", "sr_d2.engine.train", "--config-file", config]
    # a run without a checkpoint to resume from starts over in its own folder
    cmd.append("--resume" if resume else "--overwrite")
    return cmd + [f"train.seed={seed}", f"train.output_dir={run_dir}", *overrides]


def ablate(
    sr_config: str,
    variants: Sequence[str],
    seeds: Sequence[int],
    output_dir: str,
    *,
    jobs: int = 1,
    overrides: Sequence[str] = (),
    defined: Optional[Dict[str, List[str]]] = None,
    results_path: Optional[str] = None,
    references: Sequence[str] = REFERENCES,
) -> Dict:
    """
    Train and evaluate every variant x seed that ``results_path`` (default
    ``output_dir/results.json``; the summary is written beside it) lacks, ``jobs`` at
    a time (each with ``cpu_count // jobs`` threads); returns the results,
    {variant: {"seed<k>": {metric: value}}}. ``overrides`` apply to every run; the summary's
    same-seed differences are to ``references``. Relative paths are those of the caller's working
    folder, where the runs also start.
    """
    sr_config, output_dir = os.path.abspath(sr_config), os.path.abspath(output_dir)
    results_path = os.path.abspath(results_path or os.path.join(output_dir, "results.json"))
    table = {**VARIANTS, **(defined or {})}
    _check_request(variants, seeds, jobs, table)
    unknown = [v for v in references if v not in table]
    if unknown:
        raise ValueError(f"unknown references {unknown}: known are {sorted(table)} (or --define NAME ...)")
    base_config = baseline_config(sr_config) if "baseline" in variants else None
    results = _read_results(results_path)

    def run_overrides(variant: str) -> List[str]:
        return [*overrides, *table[variant]]

    def run_config(variant: str) -> Dict[str, str]:
        path = base_config if variant == "baseline" else sr_config
        with open(path, "rb") as f:
            return {"config": os.path.relpath(path), "config_sha1": hashlib.sha1(f.read()).hexdigest()}

    # a result or a run folder from another config file or other overrides is not this call's:
    # refused, not reused
    for variant in variants:
        for seed in seeds:
            done = results.get(variant, {}).get(f"seed{seed}")
            run_dir = os.path.join(output_dir, variant, f"seed{seed}")
            recorded = os.path.join(run_dir, "run.json")
            if done is not None:  # a result (one from before ablate recorded its overrides has none)
                earlier = done
            elif os.path.isfile(recorded):  # a run to resume
                with open(recorded) as f:
                    earlier = json.load(f)
            else:
                earlier = {}
            if "overrides" in earlier and earlier["overrides"] != run_overrides(variant):
                raise ValueError(f"{variant} seed {seed} was trained with overrides {earlier['overrides']}, this "
                                 f"call gives {run_overrides(variant)}: use another --output-dir and --results")
            config = run_config(variant)
            if "config_sha1" in earlier and earlier["config_sha1"] != config["config_sha1"]:
                raise ValueError(f"{variant} seed {seed} was trained with config {earlier['config']} (sha1 "
                                 f"{earlier['config_sha1'][:12]}), this call gives {config['config']} (sha1 "
                                 f"{config['config_sha1'][:12]}): use another --output-dir and --results")
            saved = glob.glob(os.path.join(glob.escape(run_dir), "model_*.pth"))
            if saved and not os.path.isfile(os.path.join(run_dir, "last_checkpoint")) and not done:
                raise FileExistsError(f"{run_dir} holds checkpoints {sorted(map(os.path.basename, saved))[:3]} but "
                                      f"no last_checkpoint naming one: restore it, or move them (nothing deleted)")
    os.makedirs(output_dir, exist_ok=True)
    todo = [(v, s) for s in seeds for v in variants if f"seed{s}" not in results.get(v, {})]
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def train(variant: str, seed: int):
        run_dir = os.path.join(output_dir, variant, f"seed{seed}")
        config = base_config if variant == "baseline" else sr_config
        record = {**run_config(variant), "overrides": run_overrides(variant)}
        result = finished_result(run_dir)  # killed after its run finished, before it was recorded
        if result is not None:
            return variant, seed, {**result, **record}
        resume = os.path.isfile(os.path.join(run_dir, "last_checkpoint"))
        cmd = _run_command(config, run_dir, seed, run_overrides(variant), resume)
        os.makedirs(run_dir, exist_ok=True)
        _write_json(os.path.join(run_dir, "run.json"), record)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        with open(os.path.join(run_dir, "ablate.log"), "a") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  preexec_fn=_die_with_parent).returncode
        if code != 0:
            raise RuntimeError(f"{variant} seed {seed} failed (exit {code}): see {run_dir}/ablate.log")
        result = final_result(run_dir)
        if result is None:
            raise RuntimeError(f"{variant} seed {seed}: {run_dir}/metrics.json has no final evaluation")
        return variant, seed, {**result, **record}

    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(train, v, s) for v, s in todo]
        for future in futures:
            try:
                variant, seed, result = future.result()
            except RuntimeError as e:
                failures.append(str(e))
                continue
            results.setdefault(variant, {})[f"seed{seed}"] = result
            write_summary(results, variants, results_path, references)
    write_summary(results, variants, results_path, references)
    if failures:
        raise RuntimeError("; ".join(failures))
    return results


def write_summary(results: Dict, variants: Sequence[str], results_path: str,
                  references: Sequence[str] = REFERENCES) -> None:
    """``results_path`` (every run) and beside it results.md (per test set: mean, spread per variant;
    differences to ``references`` on the same seed) and results.png (a row of panels per test set)."""
    output_dir = os.path.dirname(os.path.abspath(results_path))
    os.makedirs(output_dir, exist_ok=True)
    _write_json(results_path, results)
    order = list(variants) + [v for v in results if v not in variants]
    panels = []
    with open(os.path.join(output_dir, "results.md"), "w") as f:
        for i, name in enumerate(datasets_scored(results)):
            scored = scored_on(results, name)
            rows = summarize(scored, order)
            classes = class_table(scored, order)  # none for panoptic-only evaluations
            paired = paired_table(scored, order, references)
            if name:
                f.write(("\n" if i else "") + f"## {name}\n\n")
            f.write(markdown_table(rows))
            if classes:
                f.write(f"\nIoU per class, mean over seeds:\n\n{classes}")
            if paired:
                f.write("\nDifferences on the same seed: mean +/- standard error [t-based 95% interval] "
                        "seeds above/below; the reading: 'supported' (the interval excludes 0), 'a "
                        "direction' (every seed on one side, the interval does not), 'within noise':\n\n"
                        + paired)
            if _columns(rows):
                panels.append((name, rows, scored))
    if panels:
        plot(panels, os.path.join(output_dir, "results.png"))


def _split_overrides(argv: Sequence[str]):
    """argv -> (the options, the overrides): a ``key=value`` word is an override wherever it stands
    (after ``--variants a b`` or ``--references a b`` too), except the two words after ``--define``."""
    options, overrides, i = [], [], 0
    while i < len(argv):
        word = argv[i]
        if word == "--define":
            options += argv[i : i + 3]
            i += 3
            continue
        (overrides if "=" in word and not word.startswith("-") else options).append(word)
        i += 1
    return options, overrides


def variants_help() -> str:
    """Every variant: its name, what it is, its overrides of the SR config."""
    described = {"baseline": ("the baseline config (the SR config's name without sr_)", ())}
    described.update({name: (r.description, r.overrides) for name, r in RECIPES.items()})
    lines = ["variants (sr_d2.recipes):"]
    for name, (description, overrides) in described.items():
        lines.append(f"  {name}: {description}")
        if overrides:
            lines.append("      " + " ".join(overrides))
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; ``opts`` holds the overrides (``key=value``) wherever they were written."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Overrides (key=value) for every run may stand anywhere, e.g. after --references.\n\n"
               + variants_help())
    parser.add_argument("--config-file", required=True, help="the SR config (sr_<baseline>.py)")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--output-dir", required=True, help="where the runs train")
    parser.add_argument("--results", help="the results file to read and extend (default: "
                                          "<output-dir>/results.json); results.md/png go beside it")
    parser.add_argument("--references", nargs="+", default=list(REFERENCES),
                        help="the variants the summary's same-seed differences are to, in order")
    parser.add_argument("--define", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"),
                        help='a variant of your own: NAME "key=value key=value"')
    parser.add_argument("opts", nargs="*", metavar="key=value", help="overrides for every run")
    options, overrides = _split_overrides(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(options)
    args.opts = [*args.opts, *overrides]
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    defined = {name: overrides.split() for name, overrides in args.define}
    try:
        results = args.results or os.path.join(args.output_dir, "results.json")
        ablate(args.config_file, args.variants, args.seeds, args.output_dir, jobs=args.jobs,
               overrides=args.opts, defined=defined, results_path=results, references=args.references)
    except (RuntimeError, ValueError, OSError) as e:
        print(f"ablate: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(os.path.dirname(os.path.abspath(results)), "results.md")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())

from tabulate import tabulate

from .sem_seg_evaluation import SIZE_BINS

__all__ = ["failure_table", "sem_seg_table"]


def sem_seg_table(results: dict) -> str:
    """
    Per-class IoU / accuracy table from ``SemSegEvaluator``'s results (its "sem_seg" dict:
    "mIoU", "IoU-<class>", "ACC-<class>", ...), with the mean row last.
    """
    classes = [k[len("IoU-") :] for k in results if k.startswith("IoU-")]
    rows = [(c, results[f"IoU-{c}"], results.get(f"ACC-{c}", float("nan"))) for c in classes]
    rows.append(("mean", results["mIoU"], results.get("mACC", float("nan"))))
    return tabulate(rows, headers=["class", "IoU", "Acc"], tablefmt="pipe", floatfmt=".1f")


def failure_table(results: dict) -> str:
    """
    Per-class table of ``SRSemSegEvaluator``'s failure metrics (segment recall by size, boundary
    F, part-mislabel rate of large segments), then the overall row and the thin classes' row.
    """
    nan = None  # a metric not reported: an empty cell
    keys = [f"recall-{b}" for b in SIZE_BINS] + ["BF", "mislabel-large"]
    classes = [k[len("IoU-") :] for k in results if k.startswith("IoU-")]
    rows = [[c, results[f"IoU-{c}"]] + [results.get(f"{k}-{c}", nan) for k in keys] for c in classes]
    rows.append(["all", results["mIoU"]] + [results.get(k, nan) for k in keys])
    if "mIoU-thin" in results:
        rows.append(["thin", results["mIoU-thin"]] + [results.get(f"{k}-thin", nan) for k in keys])
    headers = ["class", "IoU"] + [f"recall {b}" for b in SIZE_BINS] + ["BF", "mislabel large"]
    return tabulate(rows, headers=headers, tablefmt="pipe", floatfmt=".1f", missingval="")

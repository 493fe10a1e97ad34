from tabulate import tabulate

__all__ = ["sem_seg_table"]


def sem_seg_table(results: dict) -> str:
    """
    Per-class IoU / accuracy table from ``SemSegEvaluator``'s results (its "sem_seg" dict:
    "mIoU", "IoU-<class>", "ACC-<class>", ...), with the mean row last.
    """
    classes = [k[len("IoU-") :] for k in results if k.startswith("IoU-")]
    rows = [(c, results[f"IoU-{c}"], results.get(f"ACC-{c}", float("nan"))) for c in classes]
    rows.append(("mean", results["mIoU"], results.get("mACC", float("nan"))))
    return tabulate(rows, headers=["class", "IoU", "Acc"], tablefmt="pipe", floatfmt=".1f")

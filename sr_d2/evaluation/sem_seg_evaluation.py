"""
detectron2's SemSegEvaluator plus measures of the two failures SR targets: small segments missed
(segment recall by size), thin parts and edges (boundary F-score), and parts of large segments
given another class (part-mislabel rate).
"""
import inspect
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils.comm import all_gather

from ..data import read_label_map

__all__ = [
    "DEFAULT_AREA_THRESHOLDS", "DEFAULT_BOUNDARY_TOLERANCE", "SIZE_BINS", "SRSemSegEvaluator", "failure_masks", "failure_metrics",
    "failure_stats", "gt_segments",
]

SIZE_BINS = ("small", "medium", "large")
# Limits between the bins, as a segment's share of the image area.
DEFAULT_AREA_THRESHOLDS = (0.005, 0.05)
# How far, in pixels, a boundary pixel may be from the other map's boundary and still match.
DEFAULT_BOUNDARY_TOLERANCE = 2


def gt_segments(gt: np.ndarray, cls: int, area_thresholds: Sequence[float]):
    """
    Connected segments (8-connectivity) of class ``cls`` in the (H, W) label map ``gt``.

    Returns:
        (H, W) int32 segment ids (0: not ``cls``), (S,) pixel counts and (S,) size bins
        (0 small, 1 medium, 2 large: area share of the image below ``area_thresholds[0]``, below
        ``area_thresholds[1]``, or not) of segments 1..S.
    """
    num, ids, stats, _ = cv2.connectedComponentsWithStats((gt == cls).astype(np.uint8), connectivity=8)
    areas = stats[1:num, cv2.CC_STAT_AREA].astype(np.int64)
    bins = np.searchsorted(np.asarray(area_thresholds) * gt.size, areas, side="right")
    return ids, areas, bins


def _segment_hits(pred: np.ndarray, gt: np.ndarray, cls: int, area_thresholds: Sequence[float]):
    """:func:`gt_segments` of ``cls``, and (S,) pixels of each predicted as ``cls``."""
    ids, areas, bins = gt_segments(gt, cls, area_thresholds)
    hits = np.bincount(ids[(ids > 0) & (pred == cls)], minlength=len(areas) + 1)[1:]
    return ids, areas, bins, hits


def failure_masks(
    pred: np.ndarray, gt: np.ndarray, *, num_classes: int, area_thresholds: Sequence[float]
):
    """
    Where the two failures happen in one (H, W) prediction ``pred`` of label map ``gt``.

    Returns:
        bool (H, W) masks: "missed", the pixels of small and medium ground-truth segments that are
        not found (less than half predicted as their class); "mislabeled", the pixels of large
        segments predicted as another class.
    """
    missed = np.zeros(gt.shape, bool)
    mislabeled = np.zeros(gt.shape, bool)
    for k in range(num_classes):
        if not (gt == k).any():
            continue
        ids, areas, bins, hits = _segment_hits(pred, gt, k, area_thresholds)
        lost = np.concatenate([[False], (2 * hits < areas) & (bins < len(SIZE_BINS) - 1)])
        missed |= lost[ids]
        large = np.concatenate([[False], bins == len(SIZE_BINS) - 1])
        mislabeled |= large[ids] & (pred != k)
    return missed, mislabeled


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of the bool (H, W) ``mask`` with an 8-neighbour outside it (the image edge is not one)."""
    return mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def failure_stats(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    num_classes: int,
    ignore_label: int,
    area_thresholds: Sequence[float],
    boundary_tolerance: int,
) -> Dict[str, np.ndarray]:
    """
    Counts of one image, to be summed over images and turned into metrics by :func:`failure_metrics`.

    Args:
        pred: (H, W) predicted class ids.
        gt: (H, W) label map, ``ignore_label`` for void.
        area_thresholds: (small/medium, medium/large) limits on a segment's share of the image area.
        boundary_tolerance: a boundary pixel matches when the other map has a boundary pixel of the
            same class within this many pixels (a (2t+1)x(2t+1) square). Pixels closer than that
            to void are not scored.
    Returns:
        "segments", "found": (3, C) ground-truth segments per size bin and class, and those with at
        least half their pixels predicted as their class; "large_pixels", "large_mislabeled": (C,)
        pixels of large segments, and those predicted as another class; "gt_boundary",
        "gt_boundary_matched", "pred_boundary", "pred_boundary_matched": (C,) boundary pixels.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction of shape {pred.shape} for a label map of shape {gt.shape}")
    c = num_classes
    out = {k: np.zeros((len(SIZE_BINS), c), np.int64) for k in ("segments", "found")}
    out.update({k: np.zeros(c, np.int64) for k in (
        "large_pixels", "large_mislabeled",
        "gt_boundary", "gt_boundary_matched", "pred_boundary", "pred_boundary_matched",
    )})  # fmt: skip
    window = np.ones((2 * boundary_tolerance + 1,) * 2, np.uint8)
    scored = ~cv2.dilate((gt == ignore_label).astype(np.uint8), window).astype(bool)
    for k in range(c):
        in_gt, in_pred = gt == k, pred == k
        if in_gt.any():
            _, areas, bins, hits = _segment_hits(pred, gt, k, area_thresholds)
            found = 2 * hits >= areas
            np.add.at(out["segments"][:, k], bins, 1)
            np.add.at(out["found"][:, k], bins, found.astype(np.int64))
            large = bins == len(SIZE_BINS) - 1
            out["large_pixels"][k] = areas[large].sum()
            out["large_mislabeled"][k] = (areas - hits)[large].sum()
        if not (in_gt.any() or in_pred.any()):
            continue
        gb, pb = _boundary(in_gt) & scored, _boundary(in_pred) & scored
        out["gt_boundary"][k], out["pred_boundary"][k] = gb.sum(), pb.sum()
        out["gt_boundary_matched"][k] = (gb & cv2.dilate(pb.astype(np.uint8), window).astype(bool)).sum()
        out["pred_boundary_matched"][k] = (pb & cv2.dilate(gb.astype(np.uint8), window).astype(bool)).sum()
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """100 * num / den, NaN where den is 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(100 * num, den, out=np.full(den.shape, np.nan), where=den > 0)


def failure_metrics(stats: Dict[str, np.ndarray], class_names: Sequence[str],
                    thin_classes: Sequence[str] = ()) -> Dict[str, float]:
    """
    Metrics in percent from summed :func:`failure_stats`; NaN where a class has nothing to score.

    "recall-<bin>[-<class>]": share of ground-truth segments found, per size bin; "BF[-<class>]":
    boundary F-score (the plain "BF" averages the classes that have ground-truth boundary);
    "mislabel-large[-<class>]": share of the pixels of large segments predicted as another class;
    "recall-<bin>-thin", "BF-thin": over ``thin_classes`` (segments pooled; BF averaged).
    Overall recall and mislabel rates pool segments and pixels over classes.
    """
    res = {}
    for b, name in enumerate(SIZE_BINS):
        res[f"recall-{name}"] = float(_ratio(stats["found"][b].sum(), stats["segments"][b].sum()))
    precision = _ratio(stats["pred_boundary_matched"], stats["pred_boundary"])
    recall = _ratio(stats["gt_boundary_matched"], stats["gt_boundary"])
    precision = np.where(stats["pred_boundary"] > 0, precision, 0.0)
    with np.errstate(invalid="ignore"):
        bf = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    bf[stats["gt_boundary"] == 0] = np.nan
    res["BF"] = float(np.nanmean(bf)) if np.isfinite(bf).any() else float("nan")
    res["mislabel-large"] = float(_ratio(stats["large_mislabeled"].sum(), stats["large_pixels"].sum()))
    per_bin = _ratio(stats["found"], stats["segments"])
    mislabel = _ratio(stats["large_mislabeled"], stats["large_pixels"])
    for k, cls in enumerate(class_names):
        for b, name in enumerate(SIZE_BINS):
            res[f"recall-{name}-{cls}"] = float(per_bin[b, k])
        res[f"BF-{cls}"] = float(bf[k])
        res[f"mislabel-large-{cls}"] = float(mislabel[k])
    if thin_classes:
        unknown = sorted(set(thin_classes) - set(class_names))
        if unknown:
            raise ValueError(f"thin classes {unknown} are not among the classes {list(class_names)}")
        idx = [list(class_names).index(c) for c in thin_classes]
        for b, name in enumerate(SIZE_BINS):
            found, segments = stats["found"][b, idx].sum(), stats["segments"][b, idx].sum()
            res[f"recall-{name}-thin"] = float(_ratio(found, segments))
        thin_bf = bf[idx]
        res["BF-thin"] = float(np.nanmean(thin_bf)) if np.isfinite(thin_bf).any() else float("nan")
    return res


class SRSemSegEvaluator(SemSegEvaluator):
    """
    detectron2's :class:`SemSegEvaluator` (its results unchanged: mIoU, fwIoU, mACC, pACC, per-class
    IoU/ACC) plus the failure metrics of :func:`failure_metrics` in the same "sem_seg" dict, and
    "mIoU-thin" (mean IoU of the metadata's ``thin_classes``). Per-image counts are summed as
    images stream in; in distributed evaluation they are gathered with detectron2's ``comm``.
    """

    def __init__(
        self,
        dataset_name: str,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        *,
        area_thresholds: Sequence[float] = DEFAULT_AREA_THRESHOLDS,
        boundary_tolerance: int = DEFAULT_BOUNDARY_TOLERANCE,
        thin_classes: Optional[Sequence[str]] = None,
    ):
        """
        Args:
            dataset_name, distributed, output_dir: as :class:`SemSegEvaluator`.
            area_thresholds: size bins of ground-truth segments, as shares of the image area:
                small below the first, large from the second on.
            boundary_tolerance: in pixels, for the boundary F-score.
            thin_classes: class names averaged in the "-thin" metrics; default: the metadata's
                ``thin_classes`` (set for CamVid and the synthetic set), else none.
        """
        parent_args = inspect.signature(SemSegEvaluator.__init__).parameters
        loader = parent_args.get("sem_seg_loading_fn")  # detectron2 after v0.6
        extra = {} if loader is None else {"sem_seg_loading_fn": self._load_and_keep_gt}
        super().__init__(dataset_name, distributed, output_dir, **extra)
        self._default_loader = None if loader is None else loader.default
        self._gather = distributed
        meta = MetadataCatalog.get(dataset_name)
        self._names, self._ignore = list(meta.stuff_classes), meta.ignore_label
        self._gt_files = {d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(dataset_name)}
        if not (len(area_thresholds) == 2 and 0 < area_thresholds[0] <= area_thresholds[1]):
            raise ValueError(f"area_thresholds must be two increasing shares, got {area_thresholds}")
        if boundary_tolerance < 0:
            raise ValueError(f"boundary_tolerance must be >= 0, got {boundary_tolerance}")
        self._area_thresholds = tuple(area_thresholds)
        self._boundary_tolerance = boundary_tolerance
        if thin_classes is None:
            thin_classes = MetadataCatalog.get(dataset_name).get("thin_classes", ())
        self._thin_classes = tuple(thin_classes)
        unknown = sorted(set(self._thin_classes) - set(self._names))
        if unknown:
            raise ValueError(f"thin classes {unknown} are not classes of {dataset_name!r}")

    def reset(self):
        super().reset()
        self._failure_stats = None
        self._kept_gt: Dict[str, np.ndarray] = {}

    def _load_and_keep_gt(self, path: str, dtype) -> np.ndarray:
        """The parent's label-map reader (detectron2 after v0.6), keeping a copy for :meth:`process`."""
        gt = self._default_loader(path, dtype=dtype)
        self._kept_gt[path] = np.array(gt, dtype=np.int64)
        return gt

    def _gt(self, path: str) -> np.ndarray:
        """(H, W) int64 label map: the one the parent just read (detectron2 after v0.6), else read again."""
        if path in self._kept_gt:
            return self._kept_gt.pop(path)
        return read_label_map(path)

    def process(self, inputs, outputs):
        super().process(inputs, outputs)
        for input, output in zip(inputs, outputs):
            pred = output["sem_seg"].argmax(dim=0).cpu().numpy()
            gt = self._gt(self._gt_files[input["file_name"]])
            stats = failure_stats(
                pred, gt, num_classes=len(self._names), ignore_label=self._ignore,
                area_thresholds=self._area_thresholds, boundary_tolerance=self._boundary_tolerance,
            )
            if self._failure_stats is None:
                self._failure_stats = stats
            else:
                for k, v in stats.items():
                    self._failure_stats[k] += v

    def evaluate(self):
        results = super().evaluate()  # gathers the parent's own counts across processes
        stats = [self._failure_stats]
        if self._gather:
            stats = all_gather(self._failure_stats)
        stats = [s for s in stats if s is not None]
        if results is None or not stats:  # not the main process, or nothing processed
            return results
        total = {k: sum(s[k] for s in stats) for k in stats[0]}
        res = results["sem_seg"]
        res.update(failure_metrics(total, self._names, self._thin_classes))
        if self._thin_classes:
            thin_iou = [res[f"IoU-{c}"] for c in self._thin_classes]
            res["mIoU-thin"] = float(np.nanmean(thin_iou)) if np.isfinite(thin_iou).any() else float("nan")
        return results

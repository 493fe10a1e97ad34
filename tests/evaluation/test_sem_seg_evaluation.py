import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator

from sr_d2.data.datasets import register_sem_seg_folder
from sr_d2.evaluation import SRSemSegEvaluator, failure_metrics, failure_stats, failure_table
from sr_d2.evaluation import sem_seg_evaluation as evaluation_module

CLASSES = ["bg", "big", "tiny"]


def _stats(pred, gt, tolerance=1, thresholds=(0.01, 0.25)):
    return failure_stats(pred, gt, num_classes=3, ignore_label=255, area_thresholds=thresholds,
                         boundary_tolerance=tolerance)


def _scene():
    """20x20 (400 px; small < 4 px, large >= 100 px): a 10x12 'big' square, 'tiny' 1x3 and 2x3."""
    gt = np.zeros((20, 20), np.int64)
    gt[2:12, 2:14] = 1  # 120 px, large
    gt[16, 2:5] = 2  # 3 px, small
    gt[15:17, 12:15] = 2  # 6 px, medium
    pred = gt.copy()
    pred[16, 2:5] = 0  # the small segment is missed
    pred[2:12, 2:8] = 0  # half of the large segment is given another class
    return pred, gt


def test_segment_recall_and_part_mislabel_by_hand():
    pred, gt = _scene()
    s = _stats(pred, gt)
    # bg: one large segment of 400 - 120 - 3 - 6 = 271 px, all predicted bg.
    assert s["segments"].tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    # 'big' keeps 60 of 120 pixels: at least half, so found; the 3-px segment is missed.
    assert s["found"].tolist() == [[0, 0, 0], [0, 0, 1], [1, 1, 0]]
    assert s["large_pixels"].tolist() == [271, 120, 0]
    assert s["large_mislabeled"].tolist() == [0, 60, 0]
    m = failure_metrics(s, CLASSES)
    assert m["recall-small"] == 0.0 and m["recall-medium"] == 100.0 and m["recall-large"] == 100.0
    assert m["recall-small-tiny"] == 0.0 and m["recall-medium-tiny"] == 100.0
    assert math.isnan(m["recall-small-big"])
    assert m["mislabel-large-big"] == pytest.approx(50.0)
    assert m["mislabel-large"] == pytest.approx(100 * 60 / 391)
    # a large segment with less than half its pixels right is missed
    pred[2:12, 2:9] = 0
    assert _stats(pred, gt)["found"][2, 1] == 0


def test_boundary_f_of_an_edge_shifted_by_one_pixel():
    gt = np.zeros((10, 20), np.int64)
    gt[:, 10:] = 1
    pred = np.zeros_like(gt)
    pred[:, 11:] = 1
    exact = failure_metrics(_stats(pred, gt, tolerance=0), CLASSES)
    assert exact["BF-bg"] == 0.0 and exact["BF-big"] == 0.0 and exact["BF"] == 0.0
    assert math.isnan(exact["BF-tiny"])  # no ground-truth boundary: not scored
    s = _stats(pred, gt, tolerance=1)
    # ground truth: columns 9 (bg) and 10 (big); prediction: columns 10 and 11; 10 rows each
    assert s["gt_boundary"].tolist() == [10, 10, 0] and s["pred_boundary"].tolist() == [10, 10, 0]
    assert s["gt_boundary_matched"].tolist() == [10, 10, 0]
    assert failure_metrics(s, CLASSES)["BF"] == 100.0
    # two pixels off: outside a tolerance of 1, inside one of 2
    pred[:, 11] = 0
    assert failure_metrics(_stats(pred, gt, tolerance=1), CLASSES)["BF"] == 0.0
    assert failure_metrics(_stats(pred, gt, tolerance=2), CLASSES)["BF"] == 100.0
    # the lower half right, the upper half two pixels off: bg's ground-truth edge (column 9) is
    # matched on rows 3-9 (row 4's prediction turns at column 10, within 1 of rows 3-5), so R = 7/10
    pred[5:, 10:] = 1
    s = _stats(pred, gt, tolerance=1)
    assert s["gt_boundary"][0] == 10 and s["gt_boundary_matched"][0] == 7


def test_void_and_image_edge_are_not_boundaries():
    gt = np.zeros((10, 10), np.int64)
    gt[4:6, 4:6] = 255
    m = failure_metrics(_stats(np.zeros_like(gt), gt, tolerance=1), CLASSES)
    assert math.isnan(m["BF-bg"])


def test_thin_class_means():
    pred, gt = _scene()
    m = failure_metrics(_stats(pred, gt), CLASSES, thin_classes=["tiny"])
    assert m["recall-small-thin"] == 0.0 and m["recall-medium-thin"] == 100.0
    assert m["BF-thin"] == m["BF-tiny"]
    with pytest.raises(ValueError, match="nope"):
        failure_metrics(_stats(pred, gt), CLASSES, thin_classes=["nope"])


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A registered 4-image dataset (classes bg/big/tiny, thin: tiny) and predictions for it."""
    root = tmp_path_factory.mktemp("eval")
    os.makedirs(root / "img"), os.makedirs(root / "gt")
    rng = np.random.default_rng(0)
    preds = {}
    for i in range(4):
        pred, gt = _scene()
        gt = np.roll(gt, i, axis=1)
        pred = np.roll(pred, i, axis=1)
        gt[0, : i + 1] = 255
        pred[rng.random(gt.shape) < 0.05] = 2
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "img" / f"{i}.png")
        Image.fromarray(gt.astype(np.uint8)).save(root / "gt" / f"{i}.png")
        preds[str(root / "img" / f"{i}.png")] = pred
    name = "test_eval_scenes"
    if name not in MetadataCatalog.list():
        register_sem_seg_folder(name, str(root / "img"), str(root / "gt"), CLASSES, thin_classes=["tiny"])
    return name, preds


def _run(evaluator, preds, files):
    evaluator.reset()
    for f in files:
        logits = torch.nn.functional.one_hot(torch.as_tensor(preds[f]), 3).permute(2, 0, 1).float()
        evaluator.process([{"file_name": f}], [{"sem_seg": logits}])


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k], k


def test_evaluator_keeps_detectron2_metrics_and_adds_failure_ones(scenes):
    name, preds = scenes
    files = sorted(preds)
    plain = SemSegEvaluator(name, distributed=False)
    _run(plain, preds, files)
    ours = SRSemSegEvaluator(name, distributed=False, area_thresholds=(0.01, 0.25), boundary_tolerance=1)
    _run(ours, preds, files)
    expected, res = plain.evaluate()["sem_seg"], ours.evaluate()["sem_seg"]
    _same({k: res[k] for k in expected}, expected)
    total = {}
    gt_files = {d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(name)}
    for f in files:
        gt = np.asarray(Image.open(gt_files[f]), np.int64)
        for k, v in _stats(preds[f], gt).items():
            total[k] = total.get(k, 0) + v
    _same({k: res[k] for k in res if k not in expected and k != "mIoU-thin"},
          failure_metrics(total, CLASSES, ["tiny"]))
    assert res["mIoU-thin"] == res["IoU-tiny"]
    assert "| thin " in failure_table(res)


def _evaluate_as_rank(rank, world, name, preds, files):
    """Evaluate ``files[rank::world]`` as one process of ``world``; rank 0 returns the results."""
    evaluator = SRSemSegEvaluator(name, distributed=True)
    _run(evaluator, preds, files[rank::world])
    return evaluator.evaluate()


def test_evaluator_gathered_over_two_processes_equals_one_process(scenes, gloo):
    name, preds = scenes
    files = sorted(preds)
    single = SRSemSegEvaluator(name, distributed=False)
    _run(single, preds, files)
    results = gloo(_evaluate_as_rank, name, preds, files)
    assert results[1] is None  # only the main process reports
    _same(results[0]["sem_seg"], single.evaluate()["sem_seg"])


def test_unknown_thin_class_is_named(scenes):
    with pytest.raises(ValueError, match="road"):
        SRSemSegEvaluator(scenes[0], thin_classes=["road"])


def test_failure_masks_mark_the_missed_segment_and_the_mislabelled_half():
    pred, gt = _scene()
    missed, mislabeled = evaluation_module.failure_masks(pred, gt, num_classes=3,
                                                         area_thresholds=(0.01, 0.25))
    expected_missed = np.zeros_like(missed)
    expected_missed[16, 2:5] = True
    expected_mislabeled = np.zeros_like(mislabeled)
    expected_mislabeled[2:12, 2:8] = True
    assert np.array_equal(missed, expected_missed) and np.array_equal(mislabeled, expected_mislabeled)

"""The weak CamVid set: pseudo masks made from a CamVid-layout folder, reproducible, as documented."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog

from sr_d2.data.datasets import CAMVID_WEAK, generate_camvid_weak, pseudo_label_quality, register_camvid_weak
from sr_d2.data.datasets.camvid import CAMVID_VOID

H, W = 90, 120
POLE, ROAD, SKY, CAR = 2, 3, 0, 8


def _scene(i: int) -> np.ndarray:
    label = np.full((H, W), ROAD, np.uint8)
    label[: H // 3] = SKY
    label[H // 2 : H // 2 + 20, 10 + 5 * i : 50 + 5 * i] = CAR
    label[5:60, 80 + i] = POLE  # a 1-px pole
    label[-3:] = CAMVID_VOID
    return label


@pytest.fixture
def camvid(tmp_path):
    """A CamVid-layout root with 3 train images, and a cache folder: their paths."""
    root = tmp_path / "camvid"
    for sub in ("train", "trainannot"):
        (root / sub).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((H, W, 3), 40 * i, np.uint8)).save(root / "train" / f"0001TP_{i:03d}.png")
        Image.fromarray(_scene(i)).save(root / "trainannot" / f"0001TP_{i:03d}.png")
    return str(root), str(tmp_path / "cache")


def _pseudo(out):
    folder = os.path.join(out, "pseudo")
    return {f: np.asarray(Image.open(os.path.join(folder, f))) for f in sorted(os.listdir(folder))}


def test_pseudo_masks_are_degraded_as_documented_and_image_labels_are_true(camvid):
    root, cache = camvid
    before = sorted(os.listdir(root)), sorted(os.listdir(os.path.join(root, "trainannot")))
    out = generate_camvid_weak(root, cache)
    assert out.startswith(cache) and (sorted(os.listdir(root)), sorted(os.listdir(os.path.join(root, "trainannot")))) == before
    with open(os.path.join(out, "image_labels.json")) as f:
        image_labels = json.load(f)
    for i, (name, pseudo) in enumerate(_pseudo(out).items()):
        label = _scene(i)
        assert pseudo.shape == label.shape and set(np.unique(pseudo)) <= set(range(11)) | {CAMVID_VOID}
        assert image_labels[name[:-4]] == [SKY, POLE, ROAD, CAR]  # the true mask's classes, void not one
        labelled = (label != CAMVID_VOID) & (pseudo != CAMVID_VOID)
        assert 0.5 < (pseudo == label)[labelled].mean() < 1.0  # mostly right, never clean
        assert (pseudo[label == POLE] == POLE).mean() < 0.5  # the thin pole mostly lost
    with open(os.path.join(out, "quality.json")) as f:
        quality = json.load(f)
    assert quality["mIoU"] < 100 and quality["IoU"][POLE] + 50 < quality["IoU"][SKY]  # thin lost, large kept


def test_same_seed_same_masks_other_seed_other_masks_and_the_cache_follows_the_labels(camvid, tmp_path):
    root, cache = camvid
    first = _pseudo(generate_camvid_weak(root, cache))
    again = _pseudo(generate_camvid_weak(root, str(tmp_path / "other_cache")))
    assert first.keys() == again.keys() and all(np.array_equal(first[k], again[k]) for k in first)
    other_seed = _pseudo(generate_camvid_weak(root, cache, seed=CAMVID_WEAK["seed"] + 1))
    assert any(not np.array_equal(first[k], other_seed[k]) for k in first)
    # a changed label map is a new set, not the old cached one
    old = generate_camvid_weak(root, cache)
    Image.fromarray(np.full((H, W), SKY, np.uint8)).save(os.path.join(root, "trainannot", "0001TP_000.png"))
    assert generate_camvid_weak(root, cache) != old


def test_registered_set_reads_the_users_images_and_names_a_missing_folder(camvid, tmp_path):
    root, cache = camvid
    register_camvid_weak("test_camvid_weak", root, cache)
    dicts = DatasetCatalog.get("test_camvid_weak")
    assert [os.path.dirname(d["file_name"]) for d in dicts] == [os.path.join(root, "train")] * 3
    assert all(d["sem_seg_file_name"].startswith(cache) and d["image_labels"] for d in dicts)
    register_camvid_weak("test_camvid_weak_missing", str(tmp_path / "nowhere"), cache)
    with pytest.raises(FileNotFoundError, match=r"CamVid folder '.*nowhere' does not exist: set "
                                                r"\$DETECTRON2_DATASETS .*\(\$DETECTRON2_DATASETS is "):
        DatasetCatalog.get("test_camvid_weak_missing")


def test_the_clean_splits_name_detectron2_datasets_when_camvid_is_missing(tmp_path, monkeypatch):
    from sr_d2.data.datasets import register_camvid

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    register_camvid(str(tmp_path / "camvid"), splits=("test_missing",))
    try:
        with pytest.raises(FileNotFoundError, match=rf"\$DETECTRON2_DATASETS is {tmp_path};"):
            DatasetCatalog.get("camvid_sem_seg_test_missing")
    finally:
        DatasetCatalog.remove("camvid_sem_seg_test_missing")
        MetadataCatalog.remove("camvid_sem_seg_test_missing")


def test_an_unwritable_cache_names_sr_d2_cache(tmp_path, monkeypatch):
    from sr_d2.data.datasets.synthetic import write_once

    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    monkeypatch.setenv("SR_D2_CACHE", str(blocked))
    with pytest.raises(OSError, match=rf"cannot be written under {blocked} .*set \$SR_D2_CACHE to a writable"):
        write_once(str(blocked / "set"), lambda folder: None, {})


def test_pseudo_label_quality_by_hand():
    # 2 classes; rows: pseudo 0, pseudo 1, pseudo void; columns: true 0, true 1
    confusion = np.array([[6, 1], [2, 3], [1, 0]])
    quality = pseudo_label_quality(confusion)
    # IoU 0: 6 / (9 + 7 - 6) = 0.6; IoU 1: 3 / (4 + 5 - 3) = 0.5; accuracy 9 / 12; void 1 / 13
    assert quality["IoU"] == pytest.approx([60.0, 50.0])
    assert quality["mIoU"] == pytest.approx(55.0)
    assert quality["pixel_accuracy"] == pytest.approx(75.0) and quality["void"] == pytest.approx(100 / 13)

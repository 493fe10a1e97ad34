import json
import os

import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog

from sr_d2.data.datasets import generate_synthetic_panoptic


def _files(folder):
    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as f:
                out[os.path.relpath(os.path.join(dirpath, n), folder)] = f.read()
    return out


def test_generation_is_deterministic_and_consistent(tmp_path):
    a = generate_synthetic_panoptic(str(tmp_path / "a"), 3, 64, 80, seed=5)
    b = generate_synthetic_panoptic(str(tmp_path / "b"), 3, 64, 80, seed=5)
    assert _files(a) == _files(b)
    with open(os.path.join(a, "panoptic.json")) as f:
        panoptic = json.load(f)
    areas = []
    for ann in panoptic["annotations"]:
        rgb = np.asarray(Image.open(os.path.join(a, "panoptic", ann["file_name"])), np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]
        assert sorted(np.unique(ids[ids > 0]).tolist()) == sorted(s["id"] for s in ann["segments_info"])
        for s in ann["segments_info"]:
            assert (ids == s["id"]).sum() == s["area"]
            if s["category_id"] <= 3:  # things
                areas.append(s["area"])
    assert min(areas) < 50 and max(areas) > 200  # small things and large ones


def test_registered_through_detectron2_panoptic_path(tiny_panoptic):
    train, _ = tiny_panoptic
    dicts = DatasetCatalog.get(train)
    assert len(dicts) == 4 and all(os.path.isfile(d["sem_seg_file_name"]) for d in dicts)
    assert all(a["category_id"] in (0, 1, 2) for d in dicts for a in d["annotations"])
    meta = MetadataCatalog.get(train)
    assert meta.evaluator_type == "coco_panoptic_seg"
    assert meta.thing_classes == ["figure", "pole", "sign"]
    assert meta.stuff_classes == ["things", "sky", "ground", "wall"]
    assert os.path.isfile(meta.panoptic_json) and os.path.isfile(meta.json_file)


def test_registered_in_detectron2s_standard_panoptic_format(tiny_panoptic):
    # Panoptic-DeepLab's format: one id space over all classes, things first (as coco_2017_*_panoptic).
    train = tiny_panoptic[0][: -len("_separated")]
    meta = MetadataCatalog.get(train)
    assert meta.stuff_classes == meta.thing_classes == ["figure", "pole", "sign", "sky", "ground", "wall"]
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2}
    assert meta.stuff_dataset_id_to_contiguous_id == {4: 3, 5: 4, 6: 5}
    segments = [s for d in DatasetCatalog.get(train) for s in d["segments_info"]]
    assert all(s["isthing"] == (s["category_id"] < 3) for s in segments)
    assert {s["category_id"] for s in segments} <= set(range(6)) and any(s["isthing"] for s in segments)

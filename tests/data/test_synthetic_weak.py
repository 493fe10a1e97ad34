import json
import os

import numpy as np
import pytest
from PIL import Image

from detectron2.data import DatasetCatalog

from sr_d2.data.datasets import generate_synthetic, generate_synthetic_weak, pseudo_label, register_synthetic_weak
from sr_d2.data.datasets.synthetic import IGNORE_LABEL, POLE

N, H, W = 6, 96, 128


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("weak"))
    return root, generate_synthetic_weak(root, N, H, W, seed=3)


def test_same_images_true_image_labels_and_degraded_masks(weak):
    root, out = weak
    clean = generate_synthetic(root, N, H, W, seed=3)
    with open(os.path.join(out, "image_labels.json")) as f:
        image_labels = json.load(f)
    kept_pole = []
    for i in range(N):
        stem = f"{i:05d}"
        assert np.array_equal(np.asarray(Image.open(os.path.join(out, "image", stem + ".png"))),
                              np.asarray(Image.open(os.path.join(clean, "image", stem + ".png"))))
        label = np.asarray(Image.open(os.path.join(clean, "label", stem + ".png")))
        pseudo = np.asarray(Image.open(os.path.join(out, "pseudo", stem + ".png")))
        assert image_labels[stem] == sorted(int(c) for c in np.unique(label) if c != IGNORE_LABEL)
        labelled = (label != IGNORE_LABEL) & (pseudo != IGNORE_LABEL)
        assert 0.5 < (label == pseudo)[labelled].mean() < 1.0  # mostly right, never clean
        if (label == POLE).any():
            kept_pole.append((pseudo[label == POLE] == POLE).mean())
    assert kept_pole and np.mean(kept_pole) < 0.5  # thin poles mostly lost, as in CAM pseudo labels


def test_pseudo_label_loses_thin_lines_and_can_add_a_false_class():
    label = np.zeros((H, W), np.uint8)
    label[H // 2 :] = 1
    label[:, 40] = 2  # a 1-px line
    pseudo = pseudo_label(label, np.random.default_rng(0), 6, IGNORE_LABEL, false_class_rate=1.0)
    assert (pseudo[:, 40] == 2).mean() < 0.5
    assert set(np.unique(pseudo)) - {0, 1, 2, IGNORE_LABEL}  # a class the image does not have
    assert not set(np.unique(pseudo_label(label, np.random.default_rng(0), 6, IGNORE_LABEL, false_class_rate=0.0))) - {
        0, 1, 2, IGNORE_LABEL}
    assert np.array_equal(pseudo, pseudo_label(label, np.random.default_rng(0), 6, IGNORE_LABEL, false_class_rate=1.0))


def test_registered_dicts_carry_image_labels(weak, tmp_path):
    root, out = weak
    register_synthetic_weak("test_weak_registered", root, num_images=N, height=H, width=W, seed=3)
    dicts = DatasetCatalog.get("test_weak_registered")
    assert len(dicts) == N and all("image_labels" in d and d["sem_seg_file_name"].endswith(".png")
                                   for d in dicts)
    # a class list missing for an image is named
    from sr_d2.data.datasets import load_sem_seg_folder

    with open(tmp_path / "labels.json", "w") as f:
        json.dump({"00000": [0]}, f)
    with pytest.raises(ValueError, match=r"no class list for 5 images: \['00001'"):
        load_sem_seg_folder(os.path.join(out, "image"), os.path.join(out, "pseudo"),
                            image_labels_file=str(tmp_path / "labels.json"))

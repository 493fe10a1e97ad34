import filecmp
import json
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from sr_d2.data.datasets.synthetic import (
    FIGURE,
    IGNORE_LABEL,
    POLE,
    SIGN,
    SYNTHETIC_CLASSES,
    generate_synthetic,
    synthetic_dir,
)

N, H, W = 12, 96, 128


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    out = generate_synthetic(root, N, H, W, seed=3)
    labels = [np.asarray(Image.open(os.path.join(out, "label", f"{i:05d}.png"))) for i in range(N)]
    return root, out, labels


def test_same_seed_same_bytes_other_seed_other_images(generated, tmp_path):
    root, out, _ = generated
    again = generate_synthetic(str(tmp_path), N, H, W, seed=3)
    for sub in ("image", "label"):
        names = sorted(os.listdir(os.path.join(out, sub)))
        assert len(names) == N
        match, mismatch, errors = filecmp.cmpfiles(
            os.path.join(out, sub), os.path.join(again, sub), names, shallow=False
        )
        assert (len(match), mismatch, errors) == (N, [], [])
    other = generate_synthetic(str(tmp_path), N, H, W, seed=4)
    assert not filecmp.cmp(
        os.path.join(out, "image", "00000.png"), os.path.join(other, "image", "00000.png"), shallow=False
    )


def test_images_and_labels_have_the_promised_format(generated):
    _, out, labels = generated
    image = np.asarray(Image.open(os.path.join(out, "image", "00000.png")))
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    values = np.unique(np.concatenate([lab.ravel() for lab in labels]))
    assert set(values.tolist()) == set(range(len(SYNTHETIC_CLASSES))) | {IGNORE_LABEL}


def _components(mask):
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return stats[1:]  # x, y, w, h, area per component, background dropped


def test_small_objects_thin_parts_and_void_are_built_in(generated):
    _, _, labels = generated
    sign_areas = np.concatenate([_components(lab == SIGN)[:, 4] for lab in labels])
    assert (sign_areas < 100).sum() >= N  # about one small sign per image or more
    poles = np.concatenate([_components(lab == POLE) for lab in labels])
    thin_long = (poles[:, 2] <= 3) & (poles[:, 3] >= 15)
    assert thin_long.sum() >= N // 2
    # Figures are large, with limbs that a 5x5 opening removes (under 5 px wide): a real share.
    kernel = np.ones((5, 5), np.uint8)
    for lab in labels:
        figure = (lab == FIGURE).astype(np.uint8)
        assert _components(figure)[:, 4].max() > 300
        limbs = figure - cv2.morphologyEx(figure, cv2.MORPH_OPEN, kernel)
        assert limbs.sum() >= 0.15 * figure.sum()
        assert (lab == IGNORE_LABEL).sum() > 0


def test_generation_is_complete_and_reused(generated):
    root, out, _ = generated
    assert out == synthetic_dir(root, N, H, W, 3)
    with open(os.path.join(out, "done.json")) as f:
        assert json.load(f) == dict(num_images=N, height=H, width=W, seed=3)
    assert [d for d in os.listdir(root) if d.startswith(".tmp")] == []
    before = os.path.getmtime(os.path.join(out, "image", "00000.png"))
    generate_synthetic(root, N, H, W, seed=3)
    assert os.path.getmtime(os.path.join(out, "image", "00000.png")) == before

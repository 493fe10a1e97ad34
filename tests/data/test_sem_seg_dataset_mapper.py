import numpy as np
import pytest
from PIL import Image

import detectron2.data.transforms as T

from sr_d2.data import SemSegDatasetMapper


def _pair(tmp_path, label, image_size=None):
    h, w = image_size or label.shape
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "im.png")
    Image.fromarray(label.astype(np.uint8)).save(tmp_path / "gt.png")
    return {"file_name": str(tmp_path / "im.png"), "sem_seg_file_name": str(tmp_path / "gt.png")}


def _mapper(is_train=True):
    return SemSegDatasetMapper(
        is_train, augmentations=[T.RandomFlip(prob=0.0)], image_format="RGB", num_classes=3,
        ignore_label=255,
    )


def test_valid_label_maps_to_tensors(tmp_path):
    label = np.array([[0, 1], [2, 255]])
    out = _mapper()(_pair(tmp_path, label))
    assert out["image"].shape == (3, 2, 2)
    assert out["sem_seg"].tolist() == label.tolist()


@pytest.mark.parametrize("is_train", [True, False])
def test_label_out_of_range_names_file_and_values(tmp_path, is_train):
    with pytest.raises(ValueError, match=r"gt\.png.*\[3, 7\].*ignore label 255"):
        _mapper(is_train)(_pair(tmp_path, np.array([[0, 3], [7, 255]])))


def test_size_mismatch_names_both_files(tmp_path):
    with pytest.raises(ValueError, match=r"gt\.png.*2x2.*im\.png.*3x2"):
        _mapper()(_pair(tmp_path, np.zeros((2, 2)), image_size=(2, 3)))


def test_image_labels_field_passes_through_to_the_model(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2)))
    d["image_labels"] = [0, 2]
    assert _mapper()(d)["image_labels"] == [0, 2]

import numpy as np
import pytest
import torch
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


def test_palette_labels_are_read_as_their_indices(tmp_path):
    # PASCAL VOC's format: palette indices are the class ids; the palette's colours are not.
    label = np.array([[0, 1], [2, 255]], np.uint8)
    d = _pair(tmp_path, label)
    palette = Image.fromarray(label, mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [224, 224, 192] * 252)
    palette.save(d["sem_seg_file_name"])
    assert _mapper()(d)["sem_seg"].tolist() == label.tolist()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(d["sem_seg_file_name"])
    with pytest.raises(ValueError, match=r"gt\.png' is a RGB image"):
        _mapper()(d)


def test_size_is_checked_after_the_images_exif_rotation(tmp_path):
    # A 3x2 (W x H) label next to a 3x2 JPEG whose EXIF says "rotate 90": loaded, the image is 2x3.
    d = _pair(tmp_path, np.zeros((2, 3)))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(tmp_path / "im.jpg", exif=exif)
    d["file_name"] = str(tmp_path / "im.jpg")
    with pytest.raises(ValueError, match=r"gt\.png.*3x2.*im\.jpg.*2x3 as loaded"):
        _mapper()(d)


def test_truncated_or_corrupt_files_are_named(tmp_path):
    d = _pair(tmp_path, np.zeros((8, 8)))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.jpg")
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "big.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"image '.*big\.jpg' cannot be read"):
        _mapper()({**d, "file_name": str(tmp_path / "big.jpg")})
    (tmp_path / "gt.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"label '.*gt\.png' cannot be read"):
        _mapper()(d)


@pytest.mark.parametrize("ids", [(0, 1, 2, 255), (0, 299, 300, 65535)])
def test_labels_resize_and_rotate_with_their_ids(tmp_path, ids):
    # 8-bit ids and 16-bit ones (over 255): resizing (nearest) and rotating keep the exact ids.
    label = np.array(ids).reshape(2, 2).repeat(4, 0).repeat(4, 1)
    Image.new("RGB", (8, 8)).save(tmp_path / "im.png")
    Image.fromarray(label.astype(np.uint16)).save(tmp_path / "gt.png")
    mapper = SemSegDatasetMapper(
        True, augmentations=[T.Resize((16, 12)), T.RandomRotation([90], expand=True, sample_style="choice")],
        image_format="RGB", num_classes=max(ids[:3]) + 1, ignore_label=ids[3],
    )
    out = mapper({"file_name": str(tmp_path / "im.png"), "sem_seg_file_name": str(tmp_path / "gt.png")})
    resized = label.repeat(2, 0)[:, np.arange(12) * 8 // 12]
    assert out["sem_seg"].dtype == torch.int64
    assert out["sem_seg"].tolist() == np.rot90(resized).tolist()


def test_a_16_bit_image_is_refused_not_read_as_white(tmp_path):
    from sr_d2.data import check_pair_headers, read_image

    d = _pair(tmp_path, np.zeros((2, 3)))
    Image.fromarray(np.full((2, 3), 40000, np.uint16)).save(tmp_path / "im.png")  # mode I;16
    with pytest.raises(ValueError, match=r"im\.png' is a I(;16)? image .* every value above 255 white"):
        check_pair_headers([d], "sixteen")
    with pytest.raises(ValueError, match=r"im\.png' is a I(;16)? image"):
        _mapper()(d)
    with pytest.raises(ValueError, match=r"im\.png' is a I(;16)? image"):
        read_image(d["file_name"], "BGR")


def test_images_with_an_exif_orientation_are_named_in_a_warning(tmp_path, caplog):
    # a 180-degree turn keeps the size: the warning says the image is loaded turned
    from sr_d2.data import check_pair_headers

    d = _pair(tmp_path, np.zeros((2, 3)))
    exif = Image.Exif()
    exif[0x0112] = 3  # orientation: rotate 180
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(tmp_path / "im.jpg", exif=exif)
    d["file_name"] = str(tmp_path / "im.jpg")
    with caplog.at_level("WARNING"):
        check_pair_headers([d, _pair(tmp_path / "..", np.zeros((2, 3)))], "turned")
    assert "dataset 'turned': 1 images carry an EXIF orientation" in caplog.text
    assert "im.jpg" in caplog.text and "must be drawn on the turned image" in caplog.text


@pytest.mark.parametrize("size,image_format", [((1, 1), "RGB"), ((40, 1), "L"), ((1, 1), "L")])
def test_a_side_of_one_pixel_flips(tmp_path, size, image_format):
    # a flip of a 1-px side gives numpy a negative stride it still calls contiguous; torch refused it
    label = np.arange(size[0] * size[1]).reshape(size) % 3
    mapper = SemSegDatasetMapper(True, augmentations=[T.RandomFlip(prob=1.0, horizontal=True)],
                                 image_format=image_format, num_classes=3, ignore_label=255)
    out = mapper(_pair(tmp_path, label))
    assert out["image"].shape == (1 if image_format == "L" else 3, *size)
    assert out["sem_seg"].tolist() == label[:, ::-1].tolist()

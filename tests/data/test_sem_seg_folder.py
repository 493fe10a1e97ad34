import os

import numpy as np
import pytest
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog

from sr_d2.data.datasets import load_sem_seg_folder, register_sem_seg_folder


def _write_pairs(root, stems, size=(20, 16)):
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    os.makedirs(os.path.join(root, "gt"), exist_ok=True)
    for stem in stems:
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(os.path.join(root, "img", stem + ".jpg"))
        Image.fromarray(np.ones(size, np.uint8)).save(os.path.join(root, "gt", stem + ".png"))


def test_folder_pair_registers_dicts_and_metadata(tmp_path):
    _write_pairs(str(tmp_path), ["b", "a", "c"])
    register_sem_seg_folder(
        "test_folder_ok", str(tmp_path / "img"), str(tmp_path / "gt"), ["x", "y"], image_ext=".jpg"
    )
    dicts = DatasetCatalog.get("test_folder_ok")
    assert [os.path.basename(d["file_name"]) for d in dicts] == ["a.jpg", "b.jpg", "c.jpg"]
    assert all(os.path.basename(d["sem_seg_file_name"]) == os.path.basename(d["file_name"])[:-4] + ".png"
               for d in dicts)
    meta = MetadataCatalog.get("test_folder_ok")
    assert meta.stuff_classes == ["x", "y"] and meta.ignore_label == 255
    assert len(meta.stuff_colors) == 2 and meta.evaluator_type == "sem_seg"


def test_images_and_labels_pair_by_stem_and_unmatched_ones_are_named(tmp_path):
    # "b" has no label and "bb" no image: paired by position, every pair after "a" would shift.
    _write_pairs(str(tmp_path), ["a", "b", "c", "d"])
    os.remove(tmp_path / "gt" / "b.png")
    Image.fromarray(np.ones((20, 16), np.uint8)).save(tmp_path / "gt" / "bb.png")
    args = ("test_folder_unmatched", str(tmp_path / "img"), str(tmp_path / "gt"), ["x", "y"])
    register_sem_seg_folder(*args, image_ext=".jpg")
    with pytest.raises(ValueError, match=r"1 images without a label .*\['b'\]; 1 labels without an "
                                         r"image .*\['bb'\]\); or pass drop_unmatched=True"):
        DatasetCatalog.get("test_folder_unmatched")
    DatasetCatalog.remove("test_folder_unmatched")
    MetadataCatalog.remove("test_folder_unmatched")
    register_sem_seg_folder(*args, image_ext=".jpg", drop_unmatched=True)
    pairs = [(os.path.basename(d["file_name"]), os.path.basename(d["sem_seg_file_name"]))
             for d in DatasetCatalog.get("test_folder_unmatched")]
    assert pairs == [("a.jpg", "a.png"), ("c.jpg", "c.png"), ("d.jpg", "d.png")]


@pytest.mark.parametrize("image_suffix, label_suffix, hint", [
    ("", "_L", "gt_ext='_L.png' would pair 2 of them"),  # CamVid's original names
    ("_leftImg8bit", "_gtFine_labelIds", "image_ext='_leftImg8bit.jpg' and gt_ext='_gtFine_labelIds.png' "
                                         "would pair 2 of them"),  # Cityscapes'
])
def test_names_that_differ_by_a_suffix_get_the_extensions_that_pair_them(tmp_path, image_suffix, label_suffix,
                                                                         hint):
    (tmp_path / "img").mkdir(), (tmp_path / "gt").mkdir()
    for stem in ("0001", "0002"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "img" / f"{stem}{image_suffix}.jpg")
        Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "gt" / f"{stem}{label_suffix}.png")
    with pytest.raises(ValueError, match=rf"names differ by a suffix .*{hint}"):
        load_sem_seg_folder(str(tmp_path / "img"), str(tmp_path / "gt"), image_ext=".jpg")
    image_ext, gt_ext = f"{image_suffix}.jpg", f"{label_suffix}.png"  # as the hint says
    assert len(load_sem_seg_folder(str(tmp_path / "img"), str(tmp_path / "gt"), image_ext, gt_ext)) == 2


def test_missing_or_empty_folder_is_named(tmp_path):
    register_sem_seg_folder("test_folder_missing", str(tmp_path / "nope"), str(tmp_path), ["x"])
    with pytest.raises(FileNotFoundError, match="nope"):
        DatasetCatalog.get("test_folder_missing")
    (tmp_path / "img").mkdir()
    (tmp_path / "gt").mkdir()
    register_sem_seg_folder("test_folder_empty", str(tmp_path / "img"), str(tmp_path / "gt"), ["x"])
    with pytest.raises(FileNotFoundError, match="holds no"):
        DatasetCatalog.get("test_folder_empty")


def test_subfolders_pair_by_their_relative_path(tmp_path):
    # Cityscapes' layout: img/<city>/<stem>, gt/<city>/<stem>; the same stem in two cities.
    for city in ("bonn", "aachen"):
        os.makedirs(tmp_path / "img" / city)
        os.makedirs(tmp_path / "gt" / city)
        for stem in ("x", f"{city}_1"):
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "img" / city / f"{stem}.png")
            Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "gt" / city / f"{stem}.png")
    dicts = load_sem_seg_folder(str(tmp_path / "img"), str(tmp_path / "gt"))
    pairs = [(os.path.relpath(d["file_name"], tmp_path / "img"), os.path.relpath(d["sem_seg_file_name"],
              tmp_path / "gt")) for d in dicts]
    assert pairs == [(p, p) for p in ("aachen/aachen_1.png", "aachen/x.png", "bonn/bonn_1.png", "bonn/x.png")]


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(image_ext="jpg"), ValueError, r"image_ext='jpg' .*'.jpg', not 'jpg'"),
    (dict(image_ext=".JPG"), FileNotFoundError, r"holds no '\*.JPG' file; it holds '\*.jpg' files: the "
                                                r"extension's case must match"),
    (dict(image_ext=".jpg", gt_ext=".jpg"), ValueError, r"gt_ext='.jpg': label maps must be lossless"),
    (dict(image_ext=".tif"), FileNotFoundError, r"holds no '\*.tif' file; it holds \['.jpg'\] files"),
])
def test_file_name_endings_that_match_nothing_name_the_cause(tmp_path, kwargs, error, message):
    _write_pairs(str(tmp_path), ["a"])
    with pytest.raises(error, match=message):
        load_sem_seg_folder(str(tmp_path / "img"), str(tmp_path / "gt"), **kwargs)


@pytest.mark.parametrize("content,message", [
    ("{'a': [0]}", r"labels.json' is not JSON"),
    ('[[0, 1]]', r"labels.json' holds a list: it must be a JSON object"),
    ('{"a": ["x"]}', r"'a' has \['x'\]; each image needs a list of class ids \(integers\), not class names"),
])
def test_a_bad_image_labels_file_is_named_with_its_problem(tmp_path, content, message):
    _write_pairs(str(tmp_path), ["a"])
    (tmp_path / "labels.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_sem_seg_folder(str(tmp_path / "img"), str(tmp_path / "gt"), ".jpg",
                            image_labels_file=str(tmp_path / "labels.json"))


def test_ignore_label_that_is_a_class_id_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ignore_label=1"):
        register_sem_seg_folder("test_folder_bad_ignore", str(tmp_path), str(tmp_path), ["x", "y"],
                                ignore_label=1)


@pytest.mark.parametrize("name", ["synthetic_sem_seg_train", "synthetic_sem_seg_val"])
def test_builtin_synthetic_loads_existing_files(name):
    dicts = DatasetCatalog.get(name)
    assert len(dicts) in (300, 60)
    assert all(os.path.isfile(d["file_name"]) and os.path.isfile(d["sem_seg_file_name"]) for d in dicts)
    assert len(MetadataCatalog.get(name).stuff_classes) == 6


def test_camvid_on_the_real_folder():
    meta = MetadataCatalog.get("camvid_sem_seg_train")
    if not os.path.isdir(meta.image_root):
        pytest.skip(f"CamVid not found at {meta.image_root} (set DETECTRON2_DATASETS)")
    for split, count in (("train", 367), ("val", 101)):
        dicts = DatasetCatalog.get(f"camvid_sem_seg_{split}")
        assert len(dicts) == count
        assert all(os.path.isfile(d["file_name"]) and os.path.isfile(d["sem_seg_file_name"])
                   for d in dicts)
    label = np.asarray(Image.open(dicts[0]["sem_seg_file_name"]))
    assert label.shape == (360, 480) and label.max() <= meta.ignore_label == 11
    assert meta.stuff_classes[2] == "Pole" and len(meta.stuff_classes) == 11


def test_detectron2_builtin_datasets_are_still_registered():
    names = DatasetCatalog.list()
    for name in ("ade20k_sem_seg_train", "cityscapes_fine_sem_seg_val", "coco_2017_val_panoptic_separated"):
        assert name in names

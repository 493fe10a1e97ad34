"""
The GPU recipes (Cityscapes, ADE20K; R-50 FPN and DeepLabV3+; baseline and SR) build and train a
step on CPU, on tiny images in each dataset's own folder format, from a pretrained-weights file in
detectron2's .pkl format written here (nothing is downloaded).
"""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg
from detectron2.data.datasets.cityscapes import load_cityscapes_semantic

import train_net
from sr_d2.config import load_lazy_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = {
    "cityscapes": ["configs/cityscapes/sem_seg_fpn_R50.py", "configs/cityscapes/sr_sem_seg_fpn_R50.py",
                   "projects/SR-DeepLab/configs/deeplabv3plus_R50_cityscapes.py",
                   "projects/SR-DeepLab/configs/sr_deeplabv3plus_R50_cityscapes.py"],
    "ade20k": ["configs/ade20k/sem_seg_fpn_R50.py", "configs/ade20k/sr_sem_seg_fpn_R50.py",
               "projects/SR-DeepLab/configs/deeplabv3plus_R50_ade20k.py",
               "projects/SR-DeepLab/configs/sr_deeplabv3plus_R50_ade20k.py"],
}


def _cityscapes(root, split, num_classes, rng):
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png and gtFine/<split>/<city>/*_gtFine_*."""
    images, gts = root / "leftImg8bit" / split / "town", root / "gtFine" / split / "town"
    images.mkdir(parents=True), gts.mkdir(parents=True)
    for i in range(2):
        stem = f"town_000000_{i:06d}_"
        Image.fromarray(rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(images / f"{stem}leftImg8bit.png")
        labels = rng.integers(0, num_classes, (64, 128)).astype(np.uint8)
        labels[:4] = 255
        for kind in ("labelTrainIds", "labelIds", "instanceIds"):
            Image.fromarray(labels).save(gts / f"{stem}gtFine_{kind}.png")
        (gts / f"{stem}gtFine_polygons.json").write_text(json.dumps({"imgHeight": 64, "imgWidth": 128}))
    return lambda: load_cityscapes_semantic(str(root / "leftImg8bit" / split), str(root / "gtFine" / split))


def _ade20k(root, split, num_classes, rng):
    """ADEChallengeData2016/images/<split>/*.jpg and annotations_detectron2/<split>/*.png."""
    base = root / "ADEChallengeData2016"
    images, gts = base / "images" / split, base / "annotations_detectron2" / split
    images.mkdir(parents=True), gts.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"ADE_{i}.jpg")
        Image.fromarray(rng.integers(0, num_classes, (64, 64)).astype(np.uint8)).save(gts / f"ADE_{i}.png")
    return lambda: load_sem_seg(str(gts), str(images), gt_ext="png", image_ext="jpg")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Test datasets registered like detectron2's builtins, with their metadata: dataset -> names."""
    root = tmp_path_factory.mktemp("recipes")
    rng = np.random.default_rng(0)
    names = {}
    for dataset, make, splits in (("cityscapes", _cityscapes, ("train", "val")),
                                  ("ade20k", _ade20k, ("training", "validation"))):
        builtin = {"cityscapes": "cityscapes_fine_sem_seg_train", "ade20k": "ade20k_sem_seg_train"}[dataset]
        meta = MetadataCatalog.get(builtin)
        names[dataset] = []
        for split in splits:
            name = f"test_recipe_{dataset}_{split}"
            if name not in DatasetCatalog.list():
                DatasetCatalog.register(name, make(root / dataset, split, len(meta.stuff_classes), rng))
                MetadataCatalog.get(name).set(stuff_classes=list(meta.stuff_classes), ignore_label=255,
                                              evaluator_type="sem_seg")
            names[dataset].append(name)
    return names


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """An R-50 in detectron2's .pkl format (numpy arrays, torchvision-style names), its stem set to 0.5."""
    cfg = load_lazy_config(os.path.join(REPO, RECIPES["cityscapes"][0]))
    weights = {k: v.numpy() for k, v in instantiate(cfg.model.backbone.bottom_up).state_dict().items()}
    weights["stem.conv1.weight"][:] = 0.5
    path = tmp_path_factory.mktemp("weights") / "R-50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "sr-d2 test", "matching_heuristics": True}, f)
    return str(path)


@pytest.mark.parametrize("dataset,config", [(d, c) for d, cs in RECIPES.items() for c in cs])
def test_recipe_loads_pretrained_weights_and_trains_a_step(dataset, config, data, pretrained, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("SR_D2_TRUSTED_PICKLES", pretrained)  # as docs/install.md says: a pickle named
    train_name, val_name = data[dataset]
    overrides = [
        f"dataloader.train.dataset.names={train_name}", f"dataloader.test.dataset.names={val_name}",
        "dataloader.train.mapper.augmentations=[]", "dataloader.test.mapper.augmentations=[]",
        "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0", "train.amp.enabled=False", "train.device=cpu",
        "train.max_iter=1", "train.eval_period=0", "train.log_period=1",
        f"train.init_checkpoint={pretrained}", f"train.output_dir={tmp_path}",
    ]
    cfg = load_lazy_config(os.path.join(REPO, config), overrides)
    model = instantiate(cfg.model)
    DetectionCheckpointer(model).load(pretrained)
    backbone = getattr(model.backbone, "bottom_up", model.backbone)
    assert torch.all(backbone.stem.conv1.weight == 0.5)  # the ImageNet weights reach the backbone
    args = train_net.argument_parser().parse_args(["--config-file", os.path.join(REPO, config), *overrides])
    results = train_net.main(args)
    steps = [json.loads(line) for line in open(tmp_path / "metrics.json") if "total_loss" in line]
    assert len(steps) == 1 and np.isfinite(steps[0]["total_loss"])
    assert ("loss_sr_f" in steps[0]) == ("/sr_" in config)
    assert "mIoU" in results["sem_seg"]


@pytest.mark.parametrize("switch,norm", [([], "SyncBatchNorm"), (["train.norm=GN"], "GroupNorm")])
def test_one_switch_sets_every_norm(switch, norm):
    cfg = load_lazy_config(os.path.join(REPO, RECIPES["cityscapes"][1]), switch)
    model = instantiate(cfg.model)
    norms = {name: type(m).__name__ for name, m in model.named_modules() if name.endswith("norm")}
    # detectron2 turns the frozen stem and res2's BatchNorms into FrozenBN; GroupNorm stays
    frozen = "FrozenBatchNorm2d" if norm == "SyncBatchNorm" else norm
    for name, kind in norms.items():
        in_frozen_part = name.startswith(("backbone.bottom_up.stem.", "backbone.bottom_up.res2."))
        assert kind == (frozen if in_frozen_part else norm), name
    assert any(n.startswith("sem_seg_head.self_regulation.") for n in norms)
    assert any(n.startswith("sem_seg_head.base_head.") for n in norms)

"""
A PNG grid, one row per chosen image of a config's test set: input, ground truth, then for each
model its prediction, its error map and (SR models) each exit's prediction. Two models side by
side: ``--compare`` a second config and checkpoint (e.g. the baseline next to SR).

    python -m sr_d2.tools.visualize --config-file configs/synthetic/sr_sem_seg_fpn_R18.py \\
        --checkpoint output/synthetic/sr_sem_seg_fpn_R18/model_final.pth \\
        --compare configs/synthetic/sem_seg_fpn_R18.py output/synthetic/sem_seg_fpn_R18/model_final.pth \\
        --names SR baseline --indices 0 1 2 --output grid.png

Error map, on the dimmed input: red, small and medium ground-truth segments missed (less than
half predicted as their class: Failure 1); yellow, pixels of large segments given another class
(Failure 2); blue, any other wrong pixel. Segment sizes: the config's evaluator ``area_thresholds``.
"""
import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from PIL import Image

from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.visualizer import Visualizer

from sr_d2.checkpoint import load_model
from sr_d2.config import test_dataset_names
from sr_d2.data import read_image, read_label_map
from sr_d2.evaluation import DEFAULT_AREA_THRESHOLDS, failure_masks
from sr_d2.modeling import SRMetaArchMixin, exit_inference
from sr_d2.utils import check_output, positive_int, written_then_renamed

__all__ = ["draw_labels", "error_map", "titled", "visualize"]

_MISSED, _MISLABELED, _WRONG = (1.0, 0.1, 0.1), (1.0, 0.85, 0.0), (0.2, 0.4, 1.0)


def error_map(image: np.ndarray, pred: np.ndarray, gt: np.ndarray, metadata,
              area_thresholds: Sequence[float]) -> np.ndarray:
    """(H, W, 3) uint8 error map of ``pred`` against ``gt`` drawn on the dimmed RGB ``image``."""
    missed, mislabeled = failure_masks(pred, gt, num_classes=len(metadata.stuff_classes),
                                       area_thresholds=area_thresholds)
    wrong = (pred != gt) & (gt != metadata.ignore_label) & ~missed & ~mislabeled
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    vis = Visualizer(np.repeat(gray[..., None] // 2, 3, axis=2), metadata)
    for mask, color in ((wrong, _WRONG), (mislabeled, _MISLABELED), (missed, _MISSED)):
        if mask.any():
            vis.draw_binary_mask(mask.astype(np.uint8), color=color, alpha=0.9, area_threshold=0)
    return vis.get_output().get_image()


def _panels(model, cfg, inputs: dict, image: np.ndarray, gt: np.ndarray, metadata, tag: str):
    """Titled panels of one model on one image: prediction, error map, exits (SR models)."""
    with torch.no_grad():
        if isinstance(model, SRMetaArchMixin):
            logits = exit_inference(model, [inputs])[0]
        else:
            logits = {"sem_seg": model([inputs])[0]["sem_seg"]}
    preds = {k: v.argmax(0).numpy() for k, v in logits.items()}
    final = preds.pop("sem_seg")
    thresholds = cfg.dataloader.evaluator.get("area_thresholds", DEFAULT_AREA_THRESHOLDS)
    out = [(f"{tag}: prediction", draw_labels(image, final, metadata)),
           (f"{tag}: errors", error_map(image, final, gt, metadata, thresholds))]
    out += [(f"{tag}: exit {name}", draw_labels(image, p, metadata)) for name, p in preds.items()]
    return out


def draw_labels(image: np.ndarray, labels: np.ndarray, metadata) -> np.ndarray:
    """(H, W, 3) RGB ``image`` with the (H, W) class ids ``labels`` drawn in the metadata's colours."""
    return Visualizer(image, metadata).draw_sem_seg(labels, area_threshold=0, alpha=0.7).get_image()


def titled(panel: np.ndarray, title: str, scale: int = 1) -> np.ndarray:
    """``panel`` enlarged ``scale`` times under a 22-px strip with ``title``."""
    panel = cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    strip = np.full((22, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def visualize(
    models: List[Tuple[str, object, object]],
    indices: Sequence[int],
    output: str,
    scale: int = 1,
    inputs: Sequence[str] = (),
    overwrite: bool = False,
) -> Tuple[int, int]:
    """
    Write the grid of ``models`` ((tag, config, model), the first config's test set) on the test
    images ``indices`` to ``output`` (in the format of its extension); returns its (height, width).
    ``output`` is never one of ``inputs`` or of the images and label maps drawn, and replaces an
    existing file only with ``overwrite`` (:func:`check_output`).
    """
    cfg = models[0][1]
    name = test_dataset_names(cfg)[0]
    dicts = DatasetCatalog.get(name)
    bad = [i for i in indices if not 0 <= i < len(dicts)]
    if bad:
        raise IndexError(f"image indices {bad} are outside {name!r}, which has {len(dicts)} images")
    drawn = [dicts[i][key] for i in indices for key in ("file_name", "sem_seg_file_name")]
    check_output(output, [*inputs, *drawn], overwrite)
    metadata = MetadataCatalog.get(name)
    classes = list(metadata.stuff_classes)
    for tag, model_cfg, _ in models:  # every drawing is named with the first test set's classes
        own = MetadataCatalog.get(test_dataset_names(model_cfg)[0]).get("stuff_classes")
        count = model_cfg.model.get("sem_seg_head", {}).get("num_classes", len(classes))
        if count != len(classes) or (own is not None and list(own) != classes):
            raise ValueError(f"{tag} predicts {count} classes ({', '.join(own or ['?'])}), the images are "
                             f"drawn with {name!r}'s {len(classes)} ({', '.join(classes)}): its drawing would "
                             f"name them wrongly; compare models of one dataset's classes")
    mapper = instantiate(cfg.dataloader.test.mapper)
    rows = []
    for i in indices:
        inputs = mapper(dict(dicts[i]))
        image = read_image(dicts[i]["file_name"], format="RGB")  # EXIF orientation applied
        gt = read_label_map(dicts[i]["sem_seg_file_name"])
        panels = [("input", image), ("ground truth", draw_labels(image, gt, metadata))]
        for tag, model_cfg, model in models:
            panels += _panels(model, model_cfg, inputs, image, gt, metadata, tag)
        rows.append(np.concatenate([titled(p, f"image {i}" if t == "input" else t, scale)
                                    for t, p in panels], axis=1))
    grid = np.concatenate(rows, axis=0)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with written_then_renamed(output, os.path.splitext(output)[1]) as tmp:
        Image.fromarray(grid).save(tmp)
    return grid.shape[:2]


def check_image_output(path: str, inputs: Sequence[str], overwrite: bool) -> None:
    """:func:`check_output`, and ValueError unless ``path`` names an image file PIL writes (by its
    extension), not a folder."""
    if os.path.isdir(path):
        raise ValueError(f"--output {path} is a folder: give the image file to write (e.g. {path}/grid.png)")
    check_output(path, inputs, overwrite)
    extension = os.path.splitext(path)[1].lower()
    if extension not in Image.registered_extensions():
        raise ValueError(f"--output {path}: {extension or 'no extension'} is not an image format; end it "
                         f"in .png or .jpg")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="LazyConfig of the model (its first test set is used)")
    parser.add_argument("--checkpoint", required=True, help="its weights (model_final.pth)")
    parser.add_argument("--compare", nargs=2, metavar=("CONFIG", "CHECKPOINT"),
                        help="a second model, drawn next to the first")
    parser.add_argument("--names", nargs="+", help="titles of the models (default: config names)")
    parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2], help="test images")
    parser.add_argument("--scale", type=positive_int, default=1, help="enlarge each panel this many times")
    parser.add_argument("--output", required=True, help="image to write (.png, .jpg, ...)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value overrides of --config-file")
    args = parser.parse_args(argv)
    try:
        specs = [(args.config_file, args.checkpoint, args.opts)]
        if args.compare:
            specs.append((*args.compare, ()))
        given = [path for config, checkpoint, _ in specs for path in (config, checkpoint)]
        check_image_output(args.output, given, args.overwrite)  # before the models load
        names = args.names or [os.path.splitext(os.path.basename(c))[0] for c, _, _ in specs]
        if len(names) != len(specs):
            raise ValueError(f"--names gives {len(names)} names for {len(specs)} models")
        models = [(n, *load_model(*spec)) for n, spec in zip(names, specs)]
        height, width = visualize(models, args.indices, args.output, args.scale, given, args.overwrite)
    except (OSError, ValueError, KeyError, IndexError) as e:
        sys.exit(f"visualize: {e}")
    print(f"wrote {args.output} ({width}x{height})")


if __name__ == "__main__":
    main()

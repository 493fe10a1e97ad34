"""
Where a class's pixels go, at the final output and at each exit: the confusion matrices of a
model over its config's test set, at the evaluation resolution, and for each chosen class its
IoU, the classes its labelled pixels are predicted as, and the classes its predicted pixels
truly are. Shows, for instance, which classes an SR-F teacher (a shallow exit) cannot tell apart.

    python -m sr_d2.tools.exit_confusion --config-file configs/camvid/sr_sem_seg_fpn_R18.py \\
        --checkpoint output/camvid/sr_sem_seg_fpn_R18/model_final.pth --classes Bicyclist Pole
"""
import argparse
import json
import os
import sys
from typing import Dict, Optional, Sequence

import torch

from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog

from sr_d2.checkpoint import load_model
from sr_d2.config import test_dataset_names, testing_on
from sr_d2.data import read_label_map
from sr_d2.modeling import SRMetaArchMixin, exit_inference
from sr_d2.utils import check_output, positive_int, written_then_renamed

__all__ = ["confusion_matrices", "describe"]


@torch.no_grad()
def confusion_matrices(model, cfg) -> Dict[str, torch.Tensor]:
    """
    {output: (C, C) int64 counts, row the labelled class, column the predicted one} over the
    first test set of ``cfg`` (val, where it names val and test): "sem_seg" (the model's output)
    and, for SR models, each exit's name.
    Void pixels (the metadata's ``ignore_label``) are left out.
    """
    name = test_dataset_names(cfg)[0]
    metadata = MetadataCatalog.get(name)
    num_classes = len(metadata.stuff_classes)
    gt_files = {d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(name)}
    counts: Dict[str, torch.Tensor] = {}
    with testing_on(cfg, name):
        loader = instantiate(cfg.dataloader.test)
    for batch in loader:
        if isinstance(model, SRMetaArchMixin):
            outputs = exit_inference(model, batch)
        else:
            outputs = [{"sem_seg": out["sem_seg"]} for out in model(batch)]
        for inputs, logits in zip(batch, outputs):
            gt = torch.from_numpy(read_label_map(gt_files[inputs["file_name"]]))
            labelled = gt != metadata.ignore_label
            bad = gt[labelled & ((gt < 0) | (gt >= num_classes))]
            if bad.numel():
                raise ValueError(
                    f"{gt_files[inputs['file_name']]}: label {int(bad[0])} is outside "
                    f"[0, {num_classes}) and is not the ignore label {metadata.ignore_label}"
                )
            for key, value in logits.items():
                pred = value.argmax(dim=0).cpu()
                index = gt[labelled] * num_classes + pred[labelled]
                pairs = torch.bincount(index, minlength=num_classes**2)
                pairs = pairs.view(num_classes, num_classes)
                counts[key] = counts.get(key, 0) + pairs
    return counts


def _check_classes(class_names: Sequence[str], classes: Sequence[str]) -> None:
    unknown = [c for c in classes if c not in class_names]
    if unknown:
        raise KeyError(f"classes {unknown} are not among {list(class_names)}")


def describe(counts: Dict[str, torch.Tensor], class_names: Sequence[str], classes: Sequence[str],
             top: int = 3) -> Dict[str, Dict[str, Dict]]:
    """
    {class: {output: {"IoU": %, "labelled as": {class: % of its labelled pixels},
    "predicted from": {class: % of its predicted pixels}}}}, the ``top`` largest shares each.
    """
    _check_classes(class_names, classes)

    def shares(row: torch.Tensor) -> Dict[str, float]:
        total = max(int(row.sum()), 1)
        order = row.argsort(descending=True)[:top].tolist()
        return {class_names[j]: round(100.0 * int(row[j]) / total, 1) for j in order if row[j] > 0}

    table = {}
    for name in classes:
        c = list(class_names).index(name)
        table[name] = {}
        for output, m in counts.items():
            union = int(m[c].sum() + m[:, c].sum() - m[c, c])
            table[name][output] = {
                "IoU": round(100.0 * int(m[c, c]) / union, 1) if union else float("nan"),
                "labelled as": shares(m[c]),
                "predicted from": shares(m[:, c]),
            }
    return table


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True,
                        help="LazyConfig of the model (its first test set is used)")
    parser.add_argument("--checkpoint", required=True, help="its weights (model_final.pth)")
    parser.add_argument("--classes", nargs="+", required=True, help="class names to describe")
    parser.add_argument("--top", type=positive_int, default=3, help="shares listed per class and output")
    parser.add_argument("--output", help="JSON to write the description and the matrices to")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="key=value overrides of --config-file")
    args = parser.parse_args(argv)
    try:
        if args.output:  # before the pass over the test set
            check_output(args.output, [args.config_file, args.checkpoint], args.overwrite)
        cfg, model = load_model(args.config_file, args.checkpoint, args.opts)
        class_names = list(MetadataCatalog.get(test_dataset_names(cfg)[0]).stuff_classes)
        _check_classes(class_names, args.classes)  # before the pass over the test set
        counts = confusion_matrices(model, cfg)
        table = describe(counts, class_names, args.classes, args.top)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"exit_confusion: {e}")
    for name, outputs in table.items():
        for output, row in outputs.items():
            labelled = ", ".join(f"{k} {v}" for k, v in row["labelled as"].items())
            predicted = ", ".join(f"{k} {v}" for k, v in row["predicted from"].items())
            print(f"{name} @ {output}: IoU {row['IoU']} | labelled {name} predicted as: {labelled} "
                  f"| predicted {name} labelled as: {predicted}")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with written_then_renamed(args.output) as tmp, open(tmp, "w") as f:
            json.dump({"classes": class_names, "describe": table,
                       "confusion": {k: v.tolist() for k, v in counts.items()}}, f, indent=1)


if __name__ == "__main__":
    main()

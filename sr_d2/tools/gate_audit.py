"""
What SR-F's gate does with noisy labels: over a weak training set (pseudo-label masks), the
pixels a trained model's teacher exit agrees with (gate "teacher_right" keeps them) and the ones
it drops, each scored against the true masks. A gate that drops mostly wrong pseudo labels
denoises them, which no label CE can; one that drops right and wrong alike only thins them.

    python -m sr_d2.tools.gate_audit --config-file configs/camvid/sr_weak_sem_seg_fpn_R18.py \\
        --checkpoint output/camvid/sr_weak_sem_seg_fpn_R18/model_final.pth --true camvid_sem_seg_train

Pixels are compared at each image's full resolution, the teacher's logits resized to it as
detectron2 post-processes the head's (training gates the 4x4 cells of the loss stride, so this
describes the gate, not its exact terms). Pixels void in the pseudo mask or in the true one are
left out.
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
from sr_d2.config import testing_on
from sr_d2.data import read_label_map
from sr_d2.modeling import SRMetaArchMixin, exit_inference
from sr_d2.utils import check_output, written_then_renamed

__all__ = ["audit", "gate_counts", "summary"]


def gate_counts(teacher: torch.Tensor, pseudo: torch.Tensor, true: torch.Tensor, num_classes: int) -> torch.Tensor:
    """
    (2, 2) int64 counts of the pixels labelled in both (H, W) maps (ids in [0, num_classes)):
    row 0 kept (``teacher == pseudo``), row 1 dropped; column 0 pseudo label right (``== true``),
    column 1 wrong.
    """
    labelled = (pseudo >= 0) & (pseudo < num_classes) & (true >= 0) & (true < num_classes)
    dropped = (teacher != pseudo)[labelled].long()
    wrong = (pseudo != true)[labelled].long()
    return torch.bincount(dropped * 2 + wrong, minlength=4).view(2, 2)


def summary(counts: torch.Tensor) -> Dict[str, float]:
    """Shares in % of the (2, 2) :func:`gate_counts`: how much the gate drops, how wrong the pseudo
    labels are overall, among the kept and among the dropped pixels, and which share of the
    wrong and of the right ones it drops."""
    c = counts.double()

    def pct(a, b) -> float:
        return round(100.0 * float(a) / float(b), 2) if b > 0 else float("nan")

    return {
        "pixels": int(counts.sum()),
        "dropped": pct(c[1].sum(), c.sum()),
        "wrong": pct(c[:, 1].sum(), c.sum()),
        "wrong among kept": pct(c[0, 1], c[0].sum()),
        "wrong among dropped": pct(c[1, 1], c[1].sum()),
        "wrong ones dropped": pct(c[1, 1], c[:, 1].sum()),
        "right ones dropped": pct(c[1, 0], c[:, 0].sum()),
    }


@torch.no_grad()
def audit(model: SRMetaArchMixin, cfg, true_dataset: str, teacher: Optional[str] = None) -> torch.Tensor:
    """
    :func:`gate_counts` summed over the images of ``cfg``'s training set (weak: pseudo masks), the
    teacher exit ``teacher`` (default: SR-F's first teacher) against the masks of ``true_dataset``,
    matched by image file name (folders may differ). ValueError naming an image the true set lacks
    or a teacher that is no exit.
    """
    if not isinstance(model, SRMetaArchMixin):
        raise ValueError("gate_audit: the model has no exits (an SR model's config is needed)")
    sr = model.self_regulation
    teacher = teacher or sr.in_features[sr.sr_f.teachers[0]]
    if teacher not in sr.in_features:
        raise ValueError(f"gate_audit: --teacher {teacher!r} is not one of the exits {sr.in_features}")
    name = cfg.dataloader.train.dataset.names
    num_classes = len(MetadataCatalog.get(name).stuff_classes)
    pseudo_files = {os.path.basename(d["file_name"]): d["sem_seg_file_name"] for d in DatasetCatalog.get(name)}
    true_files = {os.path.basename(d["file_name"]): d["sem_seg_file_name"] for d in DatasetCatalog.get(true_dataset)}
    missing = sorted(set(pseudo_files) - set(true_files))
    if missing:
        raise ValueError(f"gate_audit: {len(missing)} images of {name} are not in {true_dataset}, e.g. {missing[0]}")
    counts = torch.zeros(2, 2, dtype=torch.long)
    with testing_on(cfg, name):
        loader = instantiate(cfg.dataloader.test)
    for batch in loader:
        for inputs, logits in zip(batch, exit_inference(model, batch)):
            file = os.path.basename(inputs["file_name"])
            pseudo = torch.from_numpy(read_label_map(pseudo_files[file]).astype("int64"))
            true = torch.from_numpy(read_label_map(true_files[file]).astype("int64"))
            counts += gate_counts(logits[teacher].argmax(dim=0).cpu(), pseudo, true, num_classes)
    return counts


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True,
                        help="LazyConfig of the SR model (its training set: pseudo masks)")
    parser.add_argument("--checkpoint", required=True, help="its weights (model_final.pth)")
    parser.add_argument("--true", required=True, help="registered dataset of the same images with their true masks")
    parser.add_argument("--teacher", help="the exit whose agreement gates (default: SR-F's teacher)")
    parser.add_argument("--output", help="JSON to write the counts and shares to")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value overrides of --config-file")
    args = parser.parse_args(argv)
    try:
        if args.output:  # before the pass over the training set
            check_output(args.output, [args.config_file, args.checkpoint], args.overwrite)
        cfg, model = load_model(args.config_file, args.checkpoint, args.opts)
        if args.true not in DatasetCatalog.list():
            raise KeyError(f"--true {args.true!r} is not a registered dataset")
        counts = audit(model, cfg, args.true, args.teacher)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"gate_audit: {e}")
    shares = summary(counts)
    print(" | ".join(f"{k} {v}" for k, v in shares.items()))
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with written_then_renamed(args.output) as tmp, open(tmp, "w") as f:
            json.dump({"counts": counts.tolist(), **shares}, f, indent=1)


if __name__ == "__main__":
    main()

"""
Write a checkpoint of the base model from an SR checkpoint: the exits (``self_regulation.*``) are
dropped and the wrapped head's weights go back to ``sem_seg_head.*``, so that the plain config
(SemanticSegmentor, PanopticFPN) loads it with no missing or unexpected keys.

    python -m sr_d2.tools.export_plain output/<run>/model_final.pth plain.pth
"""
import argparse
import os
import pickle
import sys
from typing import Dict, Optional, Sequence

import torch

from sr_d2.checkpoint import load_torch_file
from sr_d2.utils import check_output, written_then_renamed

__all__ = ["export_plain", "strip_self_regulation"]

SR_PREFIX, HEAD_PREFIX = "sem_seg_head.self_regulation.", "sem_seg_head.base_head."


def strip_self_regulation(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The base model's state dict in an SR model's: SR's entries dropped, the wrapped head's under
    "sem_seg_head." again."""
    return {("sem_seg_head." + k[len(HEAD_PREFIX):] if k.startswith(HEAD_PREFIX) else k): v
            for k, v in state_dict.items() if not k.startswith(SR_PREFIX)}


def export_plain(src: str, dst: str, overwrite: bool = False) -> int:
    """
    Read detectron2 checkpoint ``src`` and write ``{"model": plain weights}`` to ``dst``.
    Returns the number of SR tensors dropped. ``dst`` is replaced only with ``overwrite``, and never
    when it is ``src``.
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(f"checkpoint {src!r} does not exist")
    check_output(dst, [src], overwrite)
    try:
        checkpoint = load_torch_file(src)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise ValueError(f"{src!r} is not a checkpoint that loads as weights only ({type(e).__name__})") from None
    weights = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(weights, dict):
        raise ValueError(f"{src!r} is not a detectron2 checkpoint (no 'model' state dict)")
    plain = strip_self_regulation(weights)
    dropped = len(weights) - len(plain)
    if dropped == 0:
        raise ValueError(f"{src!r} holds no Self-Regulation weights: it is not an SR model's checkpoint")
    with written_then_renamed(dst) as tmp:
        torch.save({"model": plain}, tmp)
    return dropped


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="checkpoint of an SR model (e.g. model_final.pth)")
    parser.add_argument("dst", help="where to write the plain model's checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace dst if it exists")
    args = parser.parse_args(argv)
    try:
        dropped = export_plain(args.src, args.dst, args.overwrite)
    except (OSError, ValueError) as e:
        sys.exit(f"export_plain: {e}")
    print(f"wrote {args.dst} ({dropped} SR tensors dropped)")


if __name__ == "__main__":
    main()

"""
Export a trained semantic-segmentation model for deployment, as a function of one image to its
logits: ``torchscript`` (a trace), ``export`` (``torch.export``'s ExportedProgram, .pt2) or
``onnx`` (with the ``deploy`` extra installed; torch.export's exporter, or the TorchScript-based
one where torch.export cannot capture the model, as under detectron2 v0.6). Then run the
exported model, reloaded, and the eager one on sample images and print the largest difference of
their logits and the time per image of each.

    python -m sr_d2.tools.export_model --config-file configs/synthetic/sr_sem_seg_fpn_R18.py \\
        --weights output/synthetic/sr_sem_seg_fpn_R18/model_final.pth \\
        --images a.png b.png --output model.ts [--format export|onnx]

An SR model exports as its base model: the exits are dropped first. The input is the image as the
config's test loader prepares it (its test-time resize); the export is traced at the first image's
size, and every image checked must have that size after the resize.
"""
import argparse
import importlib.util
import logging
import os
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import torch

from torch import nn

from detectron2.config import instantiate
from detectron2.modeling import SemanticSegmentor

from sr_d2.checkpoint import load_model
from sr_d2.modeling import SRMetaArchMixin
from sr_d2.utils import check_output, positive_int, written_then_renamed

__all__ = ["FORMATS", "SemanticLogits", "export_model", "prepared_images"]

logger = logging.getLogger(__name__)

FORMATS = ("torchscript", "export", "onnx")
DEPLOY_MODULES = ("onnx", "onnxruntime", "onnxscript")  # pyproject.toml's "deploy" extra


class SemanticLogits(nn.Module):
    """
    A detectron2 semantic model as a function of one image, for tracing: (3, H, W) image as the
    model takes it -> (C, H, W) logits. (detectron2's ``TracingAdapter`` does this for any output
    structure, but v0.6's ``detectron2.export`` cannot be imported without caffe2.)
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model([{"image": image}])[0]["sem_seg"]


def prepared_images(cfg, paths: Sequence[str]) -> List[torch.Tensor]:
    """(3, H, W) tensors of the images ``paths`` as ``cfg.dataloader.test``'s mapper makes them."""
    mapper = instantiate(cfg.dataloader.test.mapper)
    images = []
    for path in paths:
        if os.path.isdir(path):
            raise IsADirectoryError(f"--images {path} is a folder: give image files (e.g. {path}/*.png)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {path!r} does not exist")
        images.append(mapper({"file_name": path})["image"])
    return images


def _per_image_seconds(run, images: Sequence[torch.Tensor], repeats: int) -> float:
    run(images[0])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        for image in images:
            run(image)
    return (time.perf_counter() - start) / (repeats * len(images))


@torch.no_grad()
def export_model(config_file: str, weights: str, images: Sequence[str], output: str,
                 fmt: str = "torchscript", overrides: Sequence[str] = (), repeats: int = 3,
                 overwrite: bool = False) -> Dict:
    """
    Trace the config's model with ``weights`` on the first of ``images`` and write it to
    ``output`` (never one of the inputs; an existing file only with ``overwrite``); returns
    {"max_abs_diff": largest |exported - eager| logit over ``images``, "eager_s", "exported_s":
    seconds per image of the eager and the reloaded exported model}.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if fmt == "onnx":
        missing = [m for m in DEPLOY_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"--format onnx needs {', '.join(missing)} (not installed): install sr-d2 with "
                              f"its deploy extra, pip install -e '.[deploy]'")
    check_output(output, [config_file, weights, *images], overwrite)
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--output {output}: its folder {folder} does not exist")
    cfg, model = load_model(config_file, weights, overrides)
    if not isinstance(model, SemanticSegmentor):
        raise ValueError(f"{type(model).__name__}: only semantic-segmentation models export here")
    if isinstance(model, SRMetaArchMixin):
        model.sem_seg_head = model.sem_seg_head.base_head  # SR is training only: deploy the base model
    inputs = prepared_images(cfg, images)
    sizes = {tuple(x.shape[-2:]) for x in inputs}
    if len(sizes) > 1:
        raise ValueError(f"the images have sizes {sorted(sizes)} after the test resize: the export is "
                         f"traced for one size, give images of one size")

    eager = SemanticLogits(model).eval()
    if fmt == "torchscript":
        with warnings.catch_warnings(), written_then_renamed(output) as tmp:
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # it holds for the traced size
            torch.jit.trace(eager, (inputs[0],)).save(tmp)
        run = torch.jit.load(output)
    elif fmt == "export":
        try:
            program = torch.export.export(eager, (inputs[0],), strict=False)
        except Exception as e:  # torch.export raises many kinds for a model it cannot capture
            raise ValueError(f"torch.export cannot capture this model ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200]}); detectron2 v0.6's padding is one such "
                             f"case: use detectron2 main, or --format torchscript") from None
        with written_then_renamed(output) as tmp:
            torch.export.save(program, tmp)
        run = torch.export.load(output).module()
    else:
        import onnxruntime  # the "deploy" extra

        with written_then_renamed(output) as tmp:
            try:
                torch.onnx.export(eager, (inputs[0],), tmp, opset_version=18, dynamo=True, verbose=False)
            except Exception as e:  # torch.export could not capture the model: the older exporter
                logger.warning("ONNX: torch.export's exporter failed (%s); using the TorchScript-based one",
                               type(e).__name__)
                torch.onnx.export(eager, (inputs[0],), tmp, opset_version=17, dynamo=False)
        session = onnxruntime.InferenceSession(output, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(image):
            return torch.as_tensor(session.run(None, {name: image.numpy()})[0])

    diff = max((run(x) - eager(x)).abs().max().item() for x in inputs)
    return {
        "max_abs_diff": diff,
        "eager_s": _per_image_seconds(eager, inputs, repeats),
        "exported_s": _per_image_seconds(run, inputs, repeats),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True, help="checkpoint of the model (SR or plain)")
    parser.add_argument("--images", nargs="+", required=True, help="sample images: trace and check")
    parser.add_argument("--output", required=True, help="file to write (.ts, .pt2 or .onnx)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--format", default="torchscript", choices=FORMATS)
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed passes over the images")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides (key=value)")
    args = parser.parse_args(argv)
    try:
        result = export_model(args.config_file, args.weights, args.images, args.output, args.format,
                              args.opts, args.repeats, args.overwrite)
    except (OSError, ValueError, ImportError) as e:
        print(f"export_model: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.format}); max |exported - eager| logit over {len(args.images)} "
          f"images: {result['max_abs_diff']:.2e}; per image: eager {result['eager_s'] * 1e3:.1f} ms, "
          f"exported {result['exported_s'] * 1e3:.1f} ms (threads={torch.get_num_threads()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

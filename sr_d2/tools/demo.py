"""
Predict on your own images or video with a trained model and draw the predictions.

    python -m sr_d2.tools.demo --config-file configs/synthetic/sr_sem_seg_fpn_R18.py \\
        --weights output/synthetic/sr_sem_seg_fpn_R18/model_final.pth \\
        --input a.png photos/ 'more/*.jpg' [--video-input clip.mp4] --output out/ [--exits]

Each image is prepared as the config's test loader prepares its images (the model's input format,
the test-time resize), predicted in eval mode at its own size, and drawn with detectron2's
``Visualizer`` in the test set's class names and colours (panoptic output as panoptic) into
``out/<stem>.png`` (``out/<file name>.png`` for inputs that share a stem, e.g. ``x.png`` and
``x.jpg``); a video becomes ``out/<name>.mp4``. An output folder that holds input images, two
inputs of the same file name in different folders, a drawing that would replace an input (the
video included) or, without ``--overwrite``, any existing file are refused before anything is drawn.
``--exits`` adds, for an SR model, the prediction of every exit next to the model's. Works for SR
models, their plain exports and plain detectron2 models. Inputs that are missing or unreadable are reported by name, the others still
processed, and the exit code is 1.
"""
import argparse
import glob
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import tqdm

import detectron2.data.transforms as T
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.utils.visualizer import Visualizer

from sr_d2.checkpoint import load_model
from sr_d2.config import test_dataset_names
from sr_d2.data import read_image
from sr_d2.modeling import SRMetaArchMixin, exit_inference
from sr_d2.tools.visualize import draw_labels, titled
from sr_d2.utils import check_output, written_then_renamed

__all__ = ["Predictor", "drawing_names", "expand_inputs", "video_drawing_name"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def expand_inputs(patterns: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(image files, patterns that matched none) of files, folders (their images) and globs."""
    files, unmatched = [], []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(os.path.join(pattern, f) for f in os.listdir(pattern) if f.lower().endswith(IMAGE_EXTS))
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(pattern))
        files += found
        if not found:
            unmatched.append(pattern)
    return files, unmatched


def drawing_names(files: Sequence[str], output_dir: str) -> Dict[str, str]:
    """
    {input image: its drawing's path in ``output_dir``}: ``<stem>.png``, or ``<file name>.png``
    for inputs that share a stem. ValueError, before anything is written, if ``output_dir`` holds
    an input image (a drawing could replace it) or two inputs would be drawn to one file.
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"--output {output_dir} is a file: --output is the folder the drawings go to "
                         f"(one <image name>.png each)")
    output_real = os.path.realpath(output_dir)
    inside = [f for f in files if os.path.dirname(os.path.realpath(f)) == output_real]
    if inside:
        raise ValueError(f"--output {output_dir} holds input images ({', '.join(inside[:3])}"
                         f"{', ...' if len(inside) > 3 else ''}): the drawings would go beside or over "
                         f"them; give another --output folder")
    files = list(dict.fromkeys(files))  # an image matched twice is drawn once
    stems: Dict[str, int] = {}
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        stems[stem] = stems.get(stem, 0) + 1
    names, drawn_from = {}, {}
    for f in files:
        base = os.path.basename(f)
        name = base + ".png" if stems[os.path.splitext(base)[0]] > 1 else os.path.splitext(base)[0] + ".png"
        if name in drawn_from:
            raise ValueError(f"inputs {drawn_from[name]} and {f} would both be drawn to "
                             f"{os.path.join(output_dir, name)}: draw them with different --output folders")
        drawn_from[name] = f
        names[f] = os.path.join(output_dir, name)
    return names


class Predictor:
    """
    A model and its config's test-time preparation: call it on an (H, W, 3) image in the model's
    input format to get the model's output dict for that image, at (H, W).
    """

    def __init__(self, cfg, model, exits: bool = False):
        mapper = instantiate(cfg.dataloader.test.mapper)
        self.augmentations = mapper.augmentations  # a detectron2 AugmentationList
        self.image_format = mapper.image_format
        self.metadata = MetadataCatalog.get(test_dataset_names(cfg)[0])
        self.model = model.eval()
        if exits and not isinstance(model, SRMetaArchMixin):
            raise ValueError(f"--exits: the model ({type(model).__name__}) has no exits; they are an SR model's "
                             f"(an sr_* config)")
        self.exits = exits

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict:
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        inputs = [{"image": tensor, "height": image.shape[0], "width": image.shape[1]}]
        output = self.model(inputs)[0]
        if self.exits:
            output["exits"] = {k: v for k, v in exit_inference(self.model, inputs)[0].items() if k != "sem_seg"}
        return output

    def draw(self, image: np.ndarray, output: dict) -> np.ndarray:
        """(H, W', 3) RGB drawing of ``output`` on ``image`` (model format), exits to its right."""
        rgb = utils.convert_image_to_rgb(image, self.image_format)
        if "panoptic_seg" in output:
            panoptic, segments = output["panoptic_seg"]
            vis = Visualizer(rgb, self.metadata).draw_panoptic_seg(panoptic.cpu(), segments)
            drawing = vis.get_image()
        else:
            drawing = draw_labels(rgb, output["sem_seg"].argmax(0).cpu().numpy(), self.metadata)
        if "exits" not in output:
            return drawing
        panels = [titled(drawing, "model")]
        panels += [titled(draw_labels(rgb, logits.argmax(0).cpu().numpy(), self.metadata), f"exit {name}")
                   for name, logits in output["exits"].items()]
        return np.concatenate(panels, axis=1)


def _write_png(path: str, rgb: np.ndarray) -> None:
    with written_then_renamed(path, ".png") as tmp:
        if not cv2.imwrite(tmp, rgb[:, :, ::-1]):
            raise OSError(f"cannot write {path}")


def run_images(predictor: Predictor, drawings: Dict[str, str]) -> List[str]:
    """Draw each input image into its path in ``drawings``; returns the messages of those that failed."""
    failures = []
    for path, drawing in tqdm.tqdm(drawings.items(), desc="images", disable=len(drawings) < 2):
        try:
            image = read_image(path, format=predictor.image_format)
        except ValueError as e:  # names the file
            failures.append(str(e))
            continue
        try:
            _write_png(drawing, predictor.draw(image, predictor(image)))
        except OSError as e:
            failures.append(f"{path}: its drawing cannot be written ({e})")
    return failures


def video_drawing_name(path: str, output_dir: str) -> str:
    """Where the drawing of the video ``path`` goes: ``output_dir/<name>.mp4``."""
    return os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + ".mp4")


def run_video(predictor: Predictor, path: str, out_path: str) -> int:
    """Draw every frame of the video ``path`` into ``out_path`` (.mp4); returns the frame count."""
    if predictor.image_format not in ("RGB", "BGR"):
        raise OSError(f"video: the model reads {predictor.image_format} images, only RGB or BGR here")
    video = cv2.VideoCapture(path)
    if not video.isOpened():
        raise OSError(f"video {path!r} cannot be opened")
    fps = video.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(video.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    writer, frames = None, 0
    try:
        for _ in tqdm.tqdm(range(total) if total else iter(int, 1), desc="frames"):
            ok, frame = video.read()  # BGR
            if not ok:
                break
            image = frame if predictor.image_format == "BGR" else frame[:, :, ::-1]
            drawing = predictor.draw(image, predictor(image))[:, :, ::-1]
            if writer is None:
                writer = cv2.VideoWriter(out_path + ".tmp.mp4", cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (drawing.shape[1], drawing.shape[0]))
            writer.write(np.ascontiguousarray(drawing))
            frames += 1
    finally:
        video.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise OSError(f"video {path!r} has no readable frame")
    os.replace(out_path + ".tmp.mp4", out_path)
    return frames


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True, help="the model's checkpoint (SR or plain)")
    parser.add_argument("--input", nargs="+", default=[], help="image files, folders or globs")
    parser.add_argument("--video-input", help="a video file")
    parser.add_argument("--output", required=True, help="folder for the drawings")
    parser.add_argument("--exits", action="store_true", help="draw every exit of an SR model too")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace drawings already in --output (never an input)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides (key=value)")
    args = parser.parse_args(argv)
    if not args.input and not args.video_input:
        parser.error("give --input and/or --video-input")
    files, unmatched = expand_inputs(args.input)
    try:
        drawings = drawing_names(files, args.output)
        video_out = video_drawing_name(args.video_input, args.output) if args.video_input else None
        given = [args.config_file, args.weights, *files, *([args.video_input] if args.video_input else [])]
        for out in [*drawings.values(), *([video_out] if video_out else [])]:
            check_output(out, given, args.overwrite)  # before anything is drawn
        cfg, model = load_model(args.config_file, args.weights, args.opts)
        predictor = Predictor(cfg, model, exits=args.exits)
        os.makedirs(args.output, exist_ok=True)
        if not os.access(args.output, os.W_OK):
            raise PermissionError(f"--output {args.output} is not writable")
    except (OSError, ValueError, KeyError) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    unreadable = run_images(predictor, drawings)
    print(f"wrote {len(files) - len(unreadable)} of {len(files)} images to {args.output}")
    failures = [f"{p}: no such file, folder or match" for p in unmatched] + unreadable
    if args.video_input:
        try:
            frames = run_video(predictor, args.video_input, video_out)
            print(f"{args.video_input}: {frames} frames drawn")
        except OSError as e:
            failures.append(str(e))
    for failure in failures:
        print(f"demo: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

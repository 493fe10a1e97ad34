"""Any folder pair of images and label maps as a Detectron2 semantic-segmentation dataset."""
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.colormap import colormap

__all__ = ["load_sem_seg_folder", "register_sem_seg_folder", "set_sem_seg_metadata"]

logger = logging.getLogger(__name__)


_LOSSY = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp")


def _files_by_stem(folder: str, ext: str, kind: str) -> Dict[str, str]:
    """{path below ``folder`` without ``ext`` (subfolders kept, "/"-separated): path} of every
    ``*<ext>`` file in ``folder`` and its subfolders; FileNotFoundError naming what is there instead."""
    found, case_only, other_exts = {}, set(), set()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in files:
            if f.endswith(ext):
                relative = os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
                found[relative[: -len(ext)]] = os.path.join(root, f)
            elif f.lower().endswith(ext.lower()):
                case_only.add(f[-len(ext):])
            else:
                other_exts.add(os.path.splitext(f)[1])
    if not found:
        hint = (f"; it holds '*{sorted(case_only)[0]}' files: the extension's case must match" if case_only
                else f"; it holds {sorted(other_exts)[:5]} files" if other_exts else "")
        raise FileNotFoundError(f"{kind} folder {folder!r} holds no '*{ext}' file{hint}")
    return found


def _suffix_hint(images: Sequence[str], labels: Sequence[str], image_ext: str, gt_ext: str) -> str:
    """
    When image and label stems differ by a suffix (Cityscapes' "x_leftImg8bit.png" and
    "x_gtFine_labelIds.png", CamVid's "x.png" and "x_L.png"): the ``image_ext`` / ``gt_ext`` that
    pair them, as a hint; else "".
    """
    if not images or not labels:
        return ""
    first = min(images)
    label = max(labels, key=lambda stem: len(os.path.commonprefix([first, stem])))
    base = os.path.commonprefix([first, label]).rstrip("_-.")
    image_suffix, label_suffix = first[len(base):], label[len(base):]
    suffixes = [x for x in (image_suffix, label_suffix) if x]
    if not base or not suffixes or not all(x[0] in "_-." for x in suffixes):
        return ""
    paired = ({i[: len(i) - len(image_suffix)] for i in images if i.endswith(image_suffix)}
              & {g[: len(g) - len(label_suffix)] for g in labels if g.endswith(label_suffix)})
    if not paired:
        return ""
    settings = [f"{name}={suffix + ext!r}" for name, suffix, ext in
                (("image_ext", image_suffix, image_ext), ("gt_ext", label_suffix, gt_ext)) if suffix]
    return (f"; the names differ by a suffix ({first!r} / {label!r}): {' and '.join(settings)} would pair "
            f"{len(paired)} of them")


def _read_image_labels(path: str, stems: Sequence[str]) -> Dict[str, List[int]]:
    """{stem: class ids} of the JSON object in ``path`` for ``stems``; ValueError naming the problem."""
    try:
        with open(path) as f:
            image_labels = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"image_labels_file {path!r} is not JSON ({e})") from None
    if not isinstance(image_labels, dict):
        raise ValueError(f"image_labels_file {path!r} holds a {type(image_labels).__name__}: it must be a JSON "
                         f"object of each image's class ids, e.g. {{\"0001\": [0, 3]}}")
    missing = [s for s in stems if s not in image_labels]
    if missing:
        raise ValueError(f"{path!r} has no class list for {len(missing)} images: {missing[:10]}")
    ids = {}
    for stem in stems:
        value = image_labels[stem]
        if not isinstance(value, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
            raise ValueError(f"image_labels_file {path!r}: {stem!r} has {value!r}; each image needs a list of "
                             f"class ids (integers), not class names")
        ids[stem] = value
    return ids


def load_sem_seg_folder(
    image_dir: str, gt_dir: str, image_ext: str = ".png", gt_ext: str = ".png", *,
    drop_unmatched: bool = False, image_labels_file: Optional[str] = None,
) -> List[dict]:
    """
    Pair ``image_dir/<stem><image_ext>`` with ``gt_dir/<stem><gt_ext>`` by stem, in subfolders too
    (``image_dir/city/x.png`` with ``gt_dir/city/x.png``; the stem is then "city/x"). An image
    without a label or a label without an image is an error naming them, unless ``drop_unmatched``
    (then they are left out, with a warning). Label maps must be lossless: a JPEG one is refused.
    ``image_labels_file``: a JSON object of each stem's class ids, e.g. the image-level labels that
    come with pseudo-label masks (weak supervision).

    Returns:
        list[dict]: Detectron2 dataset dicts with "file_name" and "sem_seg_file_name" (and
        "image_labels" with ``image_labels_file``), by stem.
    """
    for name, ext in (("image_ext", image_ext), ("gt_ext", gt_ext)):
        if "." not in ext:
            raise ValueError(f"{name}={ext!r} is the end of the file names, extension included: "
                             f"'.{ext}', not {ext!r}")
    if gt_ext.lower().endswith(_LOSSY):
        raise ValueError(f"gt_ext={gt_ext!r}: label maps must be lossless (e.g. PNG); lossy compression "
                         f"changes class ids along every edge")
    found = {}
    for kind, folder, ext in (("image", image_dir, image_ext), ("label", gt_dir, gt_ext)):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{kind} folder {folder!r} does not exist")
        found[kind] = _files_by_stem(folder, ext, kind)
    images, labels = found["image"], found["label"]
    unmatched = {
        f"images without a label in {gt_dir!r}": sorted(set(images) - set(labels)),
        f"labels without an image in {image_dir!r}": sorted(set(labels) - set(images)),
    }
    unmatched = {what: stems for what, stems in unmatched.items() if stems}
    if unmatched:
        listing = "; ".join(f"{len(stems)} {what}: {stems[:10]}" + (" ..." if len(stems) > 10 else "")
                            for what, stems in unmatched.items())
        hint = _suffix_hint(sorted(set(images) - set(labels)), sorted(set(labels) - set(images)), image_ext, gt_ext)
        if not drop_unmatched:
            raise ValueError(f"unmatched files ({listing}){hint}; or pass drop_unmatched=True to leave them out")
        logger.warning("Leaving out %s%s", listing, hint)
    stems = sorted(set(images) & set(labels))
    if not stems:
        raise FileNotFoundError(f"no image in {image_dir!r} has a label of the same name in {gt_dir!r}"
                                + _suffix_hint(sorted(images), sorted(labels), image_ext, gt_ext))
    dicts = [{"file_name": images[s], "sem_seg_file_name": labels[s]} for s in stems]
    if image_labels_file is not None:
        image_labels = _read_image_labels(image_labels_file, stems)
        for d, stem in zip(dicts, stems):
            d["image_labels"] = image_labels[stem]
    return dicts


def set_sem_seg_metadata(
    name: str,
    classes: Sequence[str],
    *,
    image_dir: str,
    gt_dir: str,
    colors: Optional[Sequence[Tuple[int, int, int]]] = None,
    ignore_label: int = 255,
    thin_classes: Sequence[str] = (),
) -> None:
    """
    Set the metadata that ``SemSegEvaluator`` and ``Visualizer`` read for dataset ``name``, and
    ``thin_classes`` (names of thin or small classes) that ``SRSemSegEvaluator`` averages apart.
    """
    if colors is None:
        colors = [tuple(int(v) for v in c) for c in colormap(rgb=True)[: len(classes)]]
    if len(colors) != len(classes):
        raise ValueError(f"dataset {name!r}: {len(colors)} colors given for {len(classes)} classes")
    if 0 <= ignore_label < len(classes):
        raise ValueError(
            f"dataset {name!r}: ignore_label={ignore_label} is the id of class {classes[ignore_label]!r}"
        )
    unknown = sorted(set(thin_classes) - set(classes))
    if unknown:
        raise ValueError(f"dataset {name!r}: thin classes {unknown} are not among its classes")
    MetadataCatalog.get(name).set(
        stuff_classes=list(classes),
        stuff_colors=[list(c) for c in colors],
        ignore_label=ignore_label,
        evaluator_type="sem_seg",
        image_root=image_dir,
        sem_seg_root=gt_dir,
        thin_classes=list(thin_classes),
    )


def register_sem_seg_folder(
    name: str,
    image_dir: str,
    gt_dir: str,
    classes: Sequence[str],
    *,
    colors: Optional[Sequence[Tuple[int, int, int]]] = None,
    ignore_label: int = 255,
    image_ext: str = ".png",
    gt_ext: str = ".png",
    thin_classes: Sequence[str] = (),
    drop_unmatched: bool = False,
    image_labels_file: Optional[str] = None,
) -> None:
    """
    Register dataset ``name``: images in ``image_dir``, label maps (one class id per pixel, 8-bit)
    of the same file stem in ``gt_dir``, ``classes[i]`` the name of id ``i``, ``ignore_label`` void.
    ``thin_classes`` name the thin or small classes; ``drop_unmatched``, ``image_labels_file``:
    see :func:`load_sem_seg_folder`. The folders are read when the dataset is first loaded, so
    they may be created later.
    """
    DatasetCatalog.register(name, lambda: load_sem_seg_folder(
        image_dir, gt_dir, image_ext, gt_ext, drop_unmatched=drop_unmatched,
        image_labels_file=image_labels_file))
    set_sem_seg_metadata(
        name, classes, image_dir=image_dir, gt_dir=gt_dir, colors=colors, ignore_label=ignore_label,
        thin_classes=thin_classes,
    )

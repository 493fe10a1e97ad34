"""sr-d2's yacs config keys; loading LazyConfig files with overrides of existing keys only; a config's test
datasets."""
import contextlib
import difflib
import os
from typing import Iterator, List, Sequence

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from detectron2.config import CfgNode, LazyConfig

from .engine.hooks import SR_SCHEDULE
from .modeling.self_regulation import SR_PRESETS, yacs_settings

__all__ = ["add_sr_config", "check_yaml_is_data", "load_lazy_config", "test_dataset_names", "testing_on"]


def add_sr_config(cfg: CfgNode) -> None:
    """
    Add ``MODEL.SR`` (read by the SR meta-architectures, SelfRegulation and SRSchedule) to a
    yacs config, with sr-d2's defaults: ``IN_FEATURES`` names the backbone features that get an
    exit, and each other key is a setting of :class:`SelfRegulation` or :class:`SRSchedule` in
    upper case, a group's prefixed (``sr_f.mode`` is ``SR_F_MODE``, ``exit_head.norm`` is ``NORM``).
    """
    cfg.MODEL.SR = CfgNode()
    cfg.MODEL.SR.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    settings = {**yacs_settings(SR_PRESETS["sr-d2"]), **{k.upper(): v for k, v in SR_SCHEDULE.items()},
                "SWITCH_ON_ACCURACY": 0.0}
    for key, value in settings.items():
        if isinstance(value, dict):  # weight_dict: its keys are the losses' names
            value = CfgNode(value)
        cfg.MODEL.SR[key] = list(value) if isinstance(value, tuple) else value


def _has_key(cfg: DictConfig, key: str) -> bool:
    parent_key, _, last = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if isinstance(parent, DictConfig):
        return last in parent.keys()  # keys() also lists values still missing ("???")
    if isinstance(parent, ListConfig):
        return last.isdigit() and int(last) < len(parent)
    return False


def _all_keys(cfg, prefix: str = "") -> List[str]:
    keys = []
    items = cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else enumerate(cfg)
    for k, v in items:
        key = f"{prefix}{k}"
        keys.append(key)
        if isinstance(v, (DictConfig, ListConfig)):
            keys += _all_keys(v, key + ".")
    return keys


def check_yaml_is_data(path: str) -> None:
    """
    ValueError naming the tag and line where the YAML file ``path`` would construct a Python object
    (``!!python/object/apply:os.system`` runs a command): detectron2 reads YAML configs with
    ``yaml.unsafe_load``, sr-d2 reads them only once plain data (as a run's config.yaml is).
    """
    with open(path) as f:
        try:
            yaml.safe_load(f)
        except yaml.constructor.ConstructorError as e:
            mark = e.problem_mark
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ValueError(f"config file {path}{where}: {e.problem}; a YAML config is read as data, and "
                             f"a tag that constructs a Python object could run code") from None


def load_lazy_config(path: str, overrides: Sequence[str] = ()) -> DictConfig:
    """
    Load the LazyConfig file ``path`` and apply ``overrides`` ("a.b=value"). Unlike
    ``LazyConfig.apply_overrides``, a key that is not in the config is an error (a misspelt key
    would otherwise be added and silently ignored); write "+a.b=value" to add a key on purpose.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    if path.endswith((".yaml", ".yml")):
        check_yaml_is_data(path)
    # normalised: LazyConfig resolves a config's relative imports from the path's folders
    cfg = LazyConfig.load(os.path.abspath(path))
    numbers = {}  # key -> its number in the file, which an override must keep a number
    for override in overrides:
        key = override.split("=", 1)[0].strip()
        if "=" not in override or key.startswith(("+", "~")):
            continue  # hydra's own syntax errors and explicit additions
        if not _has_key(cfg, key):
            close = difflib.get_close_matches(key, _all_keys(cfg), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"override {override!r}: {path} has no key {key!r}{hint}")
        value = OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)
        if _is_number(value):
            numbers[key] = value
    cfg = LazyConfig.apply_overrides(cfg, list(overrides))
    for key, value in numbers.items():
        new = OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)
        if not _is_number(new):
            raise ValueError(f"override {key}={new!r}: {key} is a number in {path} ({value!r}), {new!r} is not")
    return cfg


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_dataset_names(cfg) -> List[str]:
    """The datasets ``cfg.dataloader.test`` names (one name or a list), in order."""
    names = cfg.dataloader.test.dataset.names
    return [names] if isinstance(names, str) else list(names)


@contextlib.contextmanager
def testing_on(cfg, name: str) -> Iterator[None]:
    """Within the block, ``cfg.dataloader.test`` and its evaluator name dataset ``name`` alone."""
    test, evaluator = cfg.dataloader.test.dataset, cfg.dataloader.evaluator
    names = test.names
    own = "dataset_name" in evaluator and not OmegaConf.is_interpolation(evaluator, "dataset_name")
    evaluator_name = evaluator.dataset_name if own else None
    test.names = name
    if own:
        evaluator.dataset_name = name
    try:
        yield
    finally:
        test.names = names
        if own:
            evaluator.dataset_name = evaluator_name

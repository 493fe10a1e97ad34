"""Loading LazyConfig files with overrides that must name existing keys."""
import difflib
import os
from typing import List, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from detectron2.config import LazyConfig

__all__ = ["load_lazy_config"]


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


def load_lazy_config(path: str, overrides: Sequence[str] = ()) -> DictConfig:
    """
    Load the LazyConfig file ``path`` and apply ``overrides`` ("a.b=value"). Unlike
    ``LazyConfig.apply_overrides``, a key that is not in the config is an error (a misspelt key
    would otherwise be added and silently ignored); write "+a.b=value" to add a key on purpose.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    cfg = LazyConfig.load(path)
    for override in overrides:
        key = override.split("=", 1)[0].strip()
        if "=" not in override or key.startswith(("+", "~")):
            continue  # hydra's own syntax errors and explicit additions
        if not _has_key(cfg, key):
            close = difflib.get_close_matches(key, _all_keys(cfg), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"override {override!r}: {path} has no key {key!r}{hint}")
    return LazyConfig.apply_overrides(cfg, list(overrides))

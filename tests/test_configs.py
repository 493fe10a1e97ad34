"""Every shipped config loads and builds its model; a recipe's config is its SR config with the recipe's overrides."""
import glob
import os

import pytest
from omegaconf import OmegaConf

from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.recipes import RECIPES, apply_recipe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = sorted(os.path.relpath(p, REPO) for pattern in ("configs/*/*.py", "projects/*/configs/*.py")
                 for p in glob.glob(os.path.join(REPO, pattern))
                 if "/common/" not in p and not os.path.basename(p).startswith("model_"))  # model_*: parts
RECIPE_CONFIGS = [p for p in SHIPPED if p.startswith("configs/") and any(
    os.path.basename(p).startswith(name.replace("-", "_") + "_") and name != "sr-d2" for name in RECIPES)]


@pytest.mark.parametrize("path", SHIPPED)
def test_every_shipped_config_builds_its_model(path):
    cfg = load_lazy_config(os.path.join(REPO, path))
    assert {"model", "dataloader", "train"} <= set(cfg)
    instantiate(cfg.model)


@pytest.mark.parametrize("path", RECIPE_CONFIGS)
def test_a_recipe_config_is_its_sr_config_with_the_recipes_overrides(path):
    folder, name = os.path.split(path)
    recipe = max((r for r in RECIPES if name.startswith(r.replace("-", "_") + "_")), key=len)
    sr_config = os.path.join(REPO, folder, "sr_" + name[len(recipe) + 1:])
    cfg = load_lazy_config(os.path.join(REPO, path))
    expected = load_lazy_config(sr_config, list(RECIPES[recipe].overrides))  # as ablate trains it
    assert OmegaConf.to_container(cfg.model) == OmegaConf.to_container(expected.model)
    assert cfg.model != load_lazy_config(sr_config).model  # the recipe changed something


def test_each_recommended_form_has_a_config_on_each_dataset():
    for recipe in ("plain_ce", "balanced_ce", "stem_balanced_ce", "sr_f_res3"):
        assert {f"configs/camvid/{recipe}_sem_seg_fpn_R18.py", f"configs/camvid/{recipe}_weak_sem_seg_fpn_R18.py",
                f"configs/cityscapes/{recipe}_sem_seg_fpn_R50.py",
                f"configs/ade20k/{recipe}_sem_seg_fpn_R50.py"} <= set(RECIPE_CONFIGS)


def test_apply_recipe_names_an_unknown_recipe_or_a_missing_node():
    cfg = load_lazy_config(os.path.join(REPO, "configs/synthetic/sr_sem_seg_fpn_R18.py"))
    with pytest.raises(KeyError, match="recipe 'nope' is not one of"):
        apply_recipe("nope", model=cfg.model)
    with pytest.raises(KeyError, match="recipe 'adaptive' sets sr_schedule.scheduler.warmup: give sr_schedule="):
        apply_recipe("adaptive", model=cfg.model)


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.startswith("projects/")])
def test_a_project_config_reaches_sr_d2s_configs_only_through_the_package(path):
    # a relative import that leaves configs/ (from ..x, from ...x) would tie it to this checkout's layout
    with open(os.path.join(REPO, path)) as f:
        leaving = [line for line in f if line.startswith("from ..")]
    assert not leaving, leaving


def test_get_config_loads_sr_d2s_config_and_names_a_missing_one():
    from detectron2.config import LazyConfig

    from sr_d2.model_zoo import get_config

    got = get_config("camvid/sem_seg_fpn_R18.py")
    assert got.dataloader.train.dataset.names == "camvid_sem_seg_train"
    expected = LazyConfig.load(os.path.join(REPO, "configs", "camvid", "sem_seg_fpn_R18.py"))
    assert OmegaConf.to_container(got.train) == OmegaConf.to_container(expected.train)
    with pytest.raises(FileNotFoundError, match="camvid/no_such.py"):
        get_config("camvid/no_such.py")

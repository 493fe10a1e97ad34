"""
Named recipes: the forms of SR the studies train, each as overrides of an SR config (its
``model`` and ``sr_schedule``), held once. ``ablate`` trains them by name, the recipe configs
(``configs/<dataset>/<recipe>_...py``) apply them with :func:`apply_recipe`, and
``python -m sr_d2.tools.ablate --help`` lists them.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

__all__ = ["RECIPES", "Recipe", "apply_recipe"]

SR = "model.self_regulation."
# An exit on detectron2's stem (stride 4, after its max-pool); the FPN keeps reading res2-res5.
_STEM_EXIT = ("model.backbone.bottom_up.out_features=[stem,res2,res3,res4,res5]",
              "model.backbone.in_features=[res2,res3,res4,res5]",
              f"+{SR}input_shape.stem={{_target_:detectron2.layers.ShapeSpec,channels:64,stride:4}}")


@dataclass(frozen=True)
class Recipe:
    """A form of SR: what it is, in one line, and its ``key=value`` overrides of the SR config."""

    description: str
    overrides: Tuple[str, ...] = ()


RECIPES: Dict[str, Recipe] = {
    "sr-d2": Recipe("the paper's method with sr-d2's defaults: exits on res2-res5, the res2 exit teaches "
                    "(SR-F, gated, class-balanced), the final output teaches (SR-L)"),
    "mea-only": Recipe("the exits alone (MEA: label CE and image BCE on each exit), no SR-F, no SR-L",
                       (f"{SR}weight_dict.loss_sr_f=0", f"{SR}weight_dict.loss_sr_l=0")),
    "official-losses": Recipe("sr-d2 with the official code's SR-F: ungated, not class-balanced",
                              (f"{SR}sr_f.gate=none", f"{SR}sr_f.class_balanced=False")),
    "sr-f-student-wrong": Recipe("sr-d2, SR-F only where the teacher is right and the student wrong",
                                 (f"{SR}sr_f.form=teacher_student_wrong",)),
    "sr-f-soft": Recipe("sr-d2 with SR-F as KL to the teacher's softened distribution (tau 2)",
                        (f"{SR}sr_f.mode=soft", f"{SR}sr_f.tau=2.0")),
    "sr-f-res3": Recipe("sr-d2 with the res3 exit as SR-F's teacher (students: res4, res5, final output)",
                        (f"{SR}sr_f.teacher=res3",)),
    "sr-f-soft-res3": Recipe("sr-f-res3 with SR-F as KL to the teacher's softened distribution (tau 2)",
                             (f"{SR}sr_f.teacher=res3", f"{SR}sr_f.mode=soft", f"{SR}sr_f.tau=2.0")),
    "sr-f-res2res3": Recipe("sr-d2 with the res2 and res3 exits teaching as an ensemble (mean probabilities)",
                            (f"{SR}sr_f.teacher=res2+res3", f"{SR}sr_f.form=teacher_ensemble")),
    "balanced-ce": Recipe("no SR-F teacher: sr-f-res3's students learn the labels, class-balanced, at the "
                          "same weight and schedule; exits on res2-res5, SR-L kept (sr-f-res3's control)",
                          (f"{SR}sr_f.teacher=res3", f"{SR}sr_f.form=labels")),
    "plain-ce": Recipe("no SR-F teacher: sr-f-res3's students learn the labels, not class-balanced (deep "
                       "supervision); exits on res2-res5, SR-L kept",
                       (f"{SR}sr_f.teacher=res3", f"{SR}sr_f.form=labels", f"{SR}sr_f.class_balanced=False")),
    "sr-d2-control": Recipe("no SR-F teacher: sr-d2's students (res3-res5 exits, final output) learn the "
                            "labels, class-balanced, at sr-d2's weight and schedule (sr-d2's control)",
                            (f"{SR}sr_f.form=labels",)),
    "random-mask": Recipe("sr-f-res3's students learn the labels on a random mask holding, per class, the "
                          "mass of the teacher's mask (the control of the teacher's choice of pixels)",
                          (f"{SR}sr_f.teacher=res3", f"{SR}sr_f.form=random_mask")),
    "sr-void": Recipe("sr-f-res3 with SR-F on the unlabelled (void) pixels too, as the official code",
                      (f"{SR}sr_f.teacher=res3", f"{SR}sr_f.form=teacher_and_void")),
    "sr-f-feature": Recipe("SR-F on features: the students' features keep the res2 exit input's local "
                           "affinities (label-free)",
                           (f"{SR}sr_f.form=teacher_affinity", f"{SR}sr_f.gate=none",
                            f"{SR}sr_f.class_balanced=False")),
    "sr-f-stem": Recipe("sr-d2 with an exit on the stem (stride 4) as SR-F's teacher, as the official code "
                        "(its exit reads the conv before the max-pool, stride 2)",
                        (*_STEM_EXIT, f"{SR}sr_f.teacher=stem")),
    "stem-balanced-ce": Recipe("no SR-F teacher: exits on the stem and res2-res5, the deeper exits and the "
                               "final output learn the labels, class-balanced (deep supervision from a stem "
                               "exit); SR-L kept (sr-f-stem's control)",
                               (*_STEM_EXIT, f"{SR}sr_f.teacher=stem", f"{SR}sr_f.form=labels")),
    "sr-l-off": Recipe("sr-d2 without SR-L", (f"{SR}weight_dict.loss_sr_l=0",)),
    "backbone-grad-0.1": Recipe("sr-d2 with the exits' gradient into the backbone at a tenth",
                                (f"{SR}exit_head.backbone_grad_scale=0.1",)),
    "backbone-detached": Recipe("sr-d2 with the exits learning on detached features (no gradient into the "
                                "backbone)", (f"{SR}exit_head.backbone_grad_scale=0",)),
    "adaptive": Recipe("sr-d2 switched on when the teachers' pixel accuracy reaches 0.85 (after 10% at least)",
                       ("sr_schedule.scheduler.warmup=0.1", "sr_schedule.switch_on_accuracy=0.85")),
}


def apply_recipe(name: str, **nodes) -> None:
    """
    Apply recipe ``name``'s overrides, in place, to the config nodes they name (``model=model``,
    ``sr_schedule=sr_schedule``: an override "model.a.b=v" sets ``model.a.b``), in a LazyConfig
    file as on the command line. KeyError naming an unknown recipe or a node not given.
    """
    if name not in RECIPES:
        raise KeyError(f"recipe {name!r} is not one of {sorted(RECIPES)}")
    for override in OverridesParser.create().parse_overrides(list(RECIPES[name].overrides)):
        node, _, key = override.key_or_group.partition(".")
        if node not in nodes:
            raise KeyError(f"recipe {name!r} sets {override.key_or_group}: give {node}= to apply_recipe")
        value = override.value()
        OmegaConf.update(nodes[node], key, value, merge=False, force_add=override.is_add())

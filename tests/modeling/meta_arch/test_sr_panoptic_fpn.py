import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2 import model_zoo
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator
from detectron2.modeling import PanopticFPN, build_model
from detectron2.utils.events import EventStorage

import train_net
from sr_d2.config import add_sr_config, load_lazy_config
from sr_d2.modeling import SRPanopticFPN, exit_inference
from sr_d2.tools.export_plain import export_plain, strip_self_regulation

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "configs", "synthetic")
SR_CONFIG = os.path.join(CONFIGS, "sr_panoptic_fpn_R18.py")
CONFIG = os.path.join(CONFIGS, "panoptic_fpn_R18.py")


def _data(tiny):
    return [f"dataloader.train.dataset.names={tiny[0]}", f"dataloader.test.dataset.names={tiny[1]}",
            "dataloader.train.num_workers=0", "dataloader.test.num_workers=0"]


def _batch(tiny, is_train):
    cfg = load_lazy_config(CONFIG, _data(tiny))
    mapper = instantiate(cfg.dataloader.train.mapper if is_train else cfg.dataloader.test.mapper)
    return [mapper(dict(d)) for d in DatasetCatalog.get(tiny[0] if is_train else tiny[1])]


def test_training_runs_and_logs_the_parent_and_sr_losses(tiny_panoptic, tmp_path):
    args = train_net.argument_parser().parse_args([
        "--config-file", SR_CONFIG, *_data(tiny_panoptic), "dataloader.train.total_batch_size=2",
        "train.max_iter=3", "train.eval_period=0", "train.log_period=1", "train.device=cpu",
        "sr_schedule.scheduler.warmup=0.3", f"train.output_dir={tmp_path}",
    ])
    results = train_net.main(args)
    with open(tmp_path / "metrics.json") as f:
        steps = [json.loads(line) for line in f if "total_loss" in line]
    parent = {"loss_sem_seg", "loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}
    sr = {"loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}
    assert parent | sr <= set(steps[-1])
    assert steps[0]["loss_sr_f"] == 0 and steps[-1]["loss_sr_f"] > 0  # warm-up, then SR
    assert 0 <= results["panoptic_seg"]["PQ"] <= 100 and "mIoU" in results["sem_seg"]


def test_eval_outputs_equal_panoptic_fpn_and_run_no_exit(tiny_panoptic):
    torch.manual_seed(0)
    sr = instantiate(load_lazy_config(SR_CONFIG).model)
    plain = instantiate(load_lazy_config(CONFIG).model)
    assert isinstance(sr, SRPanopticFPN) and type(plain) is PanopticFPN
    with EventStorage():  # BatchNorm statistics move away from their init
        sr.train()(_batch(tiny_panoptic, True)[:2])
    plain.load_state_dict(strip_self_regulation(sr.state_dict()))  # strict: every key fits
    calls = []
    for module in sr.self_regulation.modules():
        module.register_forward_hook(lambda *args: calls.append(1))
    sr.eval(), plain.eval()
    batch = _batch(tiny_panoptic, False)
    # the untrained detector's scores are near 0: keep every box so that instances are compared
    for model in (sr, plain):
        model.roi_heads.box_predictor.test_score_thresh = 0.0
        model.combine_instances_score_thresh = 0.0
    with torch.no_grad():
        out_sr, out_plain = sr(batch), plain(batch)
    assert calls == []
    for a, b in zip(out_sr, out_plain):
        assert torch.equal(a["sem_seg"], b["sem_seg"])
        assert len(a["instances"]) > 0
        for field in ("pred_boxes", "scores", "pred_classes", "pred_masks"):
            x, y = a["instances"].get(field), b["instances"].get(field)
            assert torch.equal(getattr(x, "tensor", x), getattr(y, "tensor", y))
        assert torch.equal(a["panoptic_seg"][0], b["panoptic_seg"][0])
        assert a["panoptic_seg"][1] == b["panoptic_seg"][1]


def test_export_gives_a_strict_panoptic_fpn_checkpoint(tmp_path):
    from detectron2.checkpoint import DetectionCheckpointer

    sr = instantiate(load_lazy_config(SR_CONFIG).model)
    DetectionCheckpointer(sr, str(tmp_path)).save("model_final")
    export_plain(str(tmp_path / "model_final.pth"), str(tmp_path / "plain.pth"))
    plain = instantiate(load_lazy_config(CONFIG).model)
    plain.load_state_dict(torch.load(tmp_path / "plain.pth", weights_only=True)["model"], strict=True)


def _ground_truth_as_prediction(tiny, image):
    """The val image's panoptic ground truth in PanopticFPN's output format (contiguous ids)."""
    meta = MetadataCatalog.get(tiny[1])
    with open(meta.panoptic_json) as f:
        gt = json.load(f)
    ann = next(a for a in gt["annotations"] if a["image_id"] == image["image_id"])
    rgb = np.asarray(Image.open(os.path.join(meta.panoptic_root, ann["file_name"])), np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]
    things, stuff = meta.thing_dataset_id_to_contiguous_id, meta.stuff_dataset_id_to_contiguous_id
    segments = [
        {"id": s["id"], "isthing": s["category_id"] in things,
         "category_id": things.get(s["category_id"], stuff.get(s["category_id"]))}
        for s in ann["segments_info"]
    ]
    return {"panoptic_seg": (torch.as_tensor(ids), segments)}


def test_panoptic_quality_of_the_ground_truth_is_100(tiny_panoptic, tmp_path):
    evaluator = COCOPanopticEvaluator(tiny_panoptic[1], str(tmp_path))
    evaluator.reset()
    images = DatasetCatalog.get(tiny_panoptic[1])
    for image in images:
        evaluator.process([image], [_ground_truth_as_prediction(tiny_panoptic, image)])
    pq = evaluator.evaluate()["panoptic_seg"]
    assert pq["PQ"] == pytest.approx(100) and pq["PQ_th"] == pytest.approx(100)
    # one image's things dropped: recognition (RQ) of things falls, segmentation quality stays
    evaluator.reset()
    for n, image in enumerate(images):
        pred = _ground_truth_as_prediction(tiny_panoptic, image)
        if n == 0:
            ids, segments = pred["panoptic_seg"]
            for s in segments:
                if s["isthing"]:
                    ids[ids == s["id"]] = 0
            pred["panoptic_seg"] = (ids, [s for s in segments if not s["isthing"]])
        evaluator.process([image], [pred])
    pq = evaluator.evaluate()["panoptic_seg"]
    assert pq["RQ_th"] < 100 and pq["SQ_th"] == pytest.approx(100)


def test_builds_from_a_yacs_config():
    cfg = model_zoo.get_config("COCO-PanopticSegmentation/panoptic_fpn_R_50_1x.yaml")
    add_sr_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "SRPanopticFPN"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_stages_fpn_backbone"
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SR.SR_L_MODE = "pixel"
    model = build_model(cfg)
    assert isinstance(model, SRPanopticFPN) and isinstance(model, PanopticFPN)
    assert model.self_regulation.in_features == ["res2", "res3", "res4", "res5"]
    assert model.self_regulation.sr_l.mode == "pixel"
    assert model.self_regulation.num_classes == 54 and model.self_regulation.ignore_value == 255
    assert model.self_regulation.exits["res5"].convs[0].weight.shape[1] == 2048


def test_exit_inference_on_the_panoptic_model(tiny_panoptic):
    torch.manual_seed(0)
    sr = instantiate(load_lazy_config(SR_CONFIG).model).eval()
    batch = _batch(tiny_panoptic, False)[:1]
    with torch.no_grad():
        expected, got = sr(batch)[0]["sem_seg"], exit_inference(sr, batch)[0]
    h, w = batch[0]["height"], batch[0]["width"]
    assert {k: tuple(v.shape) for k, v in got.items()} == {
        k: (expected.shape[0], h, w) for k in ("sem_seg", "res2", "res3", "res4", "res5")}
    assert torch.equal(got["sem_seg"], expected)


def test_full_class_targets_give_thing_pixels_their_instance_class_and_shift_the_stuff():
    from detectron2.structures import BitMasks, Instances, PolygonMasks

    from sr_d2.modeling.meta_arch.sr_panoptic_fpn import full_class_targets

    # separated labels of one 3x4 image padded to 4x5: 0 thing, 1-2 stuff, 255 void
    targets = torch.full((2, 4, 5), 255, dtype=torch.long)
    targets[0, :3, :4] = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 0], [255, 0, 0, 1]])
    masks = torch.zeros(2, 3, 4, dtype=torch.bool)
    masks[0, :2, :2] = True  # instance of class 2 (top-left)
    masks[1, 1:, 0] = masks[1, 2, 1] = True  # instance of class 0, over the first at (1, 0)
    first = Instances((3, 4), gt_classes=torch.tensor([2, 0]), gt_masks=BitMasks(masks))
    # the second image: one polygon instance of class 1 over the top-left 2x2 square of pixels
    targets[1, :3, :4] = 0
    square = [[0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]]
    second = Instances((3, 4), gt_classes=torch.tensor([1]), gt_masks=PolygonMasks([square]))
    full = full_class_targets([{"instances": first}, {"instances": second}], targets, num_things=3,
                              ignore_value=255)
    V = 255
    assert full[0].tolist() == [[2, 2, 3, 3, V], [0, 4, 4, V, V], [V, 0, V, 3, V], [V] * 5]
    assert full[1, :2, :2].eq(1).all() and full[1, 2:].eq(V).all() and full[1, :, 2:].eq(V).all()


def _full_class(tiny):
    # 3 thing classes, separated classes "things" + 3 stuff: the exits learn 3 + 3
    return [*_data(tiny), "model.self_regulation.num_classes=6",
            "model.self_regulation.final_classes=[0,0,0,1,2,3]"]


def test_full_class_exits_learn_each_thing_class_while_the_head_keeps_separated_labels(tiny_panoptic):
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(SR_CONFIG, _full_class(tiny_panoptic)).model).train()
    assert model.self_regulation.exits["res2"].predictor.out_channels == 6
    seen = {}
    sr_forward = model.self_regulation.forward
    model.self_regulation.forward = lambda f, logits, targets, labels: seen.update(
        logits=logits, targets=targets) or sr_forward(f, logits, targets, labels)
    with EventStorage():
        losses = model(_batch(tiny_panoptic, True)[:2])
    assert seen["logits"].shape[1] == 4  # the head's separated classes
    labelled = seen["targets"][seen["targets"] != 255]
    assert set(labelled.unique().tolist()) <= set(range(6)) and (labelled < 3).any()  # thing classes
    assert all(torch.isfinite(v) for v in losses.values())


def test_full_class_exits_must_group_the_thing_classes_into_the_heads_class_0(tiny_panoptic):
    overrides = [*_data(tiny_panoptic), "model.self_regulation.num_classes=6",
                 "model.self_regulation.final_classes=[0,1,2,3,0,0]"]
    with pytest.raises(ValueError, match=r"3 thing classes \(roi_heads.num_classes\) in the semantic head's class 0"):
        instantiate(load_lazy_config(SR_CONFIG, overrides).model)


def test_exits_on_the_fpn_levels_train_from_p2_to_p5(tiny_panoptic):
    torch.manual_seed(0)
    cfg = load_lazy_config(os.path.join(CONFIGS, "sr_panoptic_fpn_R18_fpn_exits.py"), _data(tiny_panoptic))
    model = instantiate(cfg.model).train()
    assert model.self_regulation.in_features == ["p2", "p3", "p4", "p5"]
    with EventStorage():
        losses = model(_batch(tiny_panoptic, True)[:2])
    losses["loss_exit_seg"].backward()  # the exits' loss alone
    # the exits read the FPN's outputs: their loss reaches the ResNet through the FPN's convolutions
    assert model.backbone.fpn_output2.weight.grad.abs().sum() > 0
    assert model.self_regulation.exits["p2"].predictor.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("config", [CONFIG, SR_CONFIG])
def test_the_merge_keeps_a_stuff_region_of_a_small_image(config):
    # detectron2's default (4096 px, for COCO) would drop this 40x40 wall from a 128x160 scene
    from detectron2.modeling.meta_arch.panoptic_fpn import combine_semantic_and_instance_outputs
    from detectron2.structures import Instances

    model = load_lazy_config(config).model
    logits = torch.zeros(4, 128, 160)
    logits[2] = 1.0  # ground
    logits[3, :40, :40] = 2.0  # wall: 1600 pixels
    no_instances = Instances((128, 160), pred_masks=torch.zeros(0, 128, 160, dtype=torch.bool),
                             scores=torch.zeros(0), pred_classes=torch.zeros(0, dtype=torch.int64))
    _, segments = combine_semantic_and_instance_outputs(
        no_instances, logits.argmax(0), 0.5, model.combine_stuff_area_thresh, 0.5)
    assert sorted((s["category_id"], s["area"]) for s in segments) == [(2, 128 * 160 - 1600), (3, 1600)]

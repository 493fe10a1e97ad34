from .backbone import StagesFPN, build_resnet_stages_fpn_backbone
from .criterion import SR_F_FORMS, SRFLoss, SRLLoss, register_sr_f_form
from .exit_head import ExitHead
from .losses import (
    SR_F_GATES,
    image_cls_loss,
    image_labels_from_mask,
    label_shares,
    local_affinity,
    sem_seg_ce_loss,
    sr_f_affinity_loss,
    sr_f_loss,
    sr_l_loss,
    void_to_teacher,
)
from .meta_arch import SRMetaArchMixin, SRPanopticFPN, SRSemanticSegmentor, exit_inference
from .head_wrapper import SRHeadWrapper, image_labels_of
from .self_regulation import SR_PRESETS, SelfRegulation, exit_feature_shapes, yacs_settings
from .study_forms import random_mask_shares

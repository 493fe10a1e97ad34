from .stages_fpn import StagesFPN, build_resnet_stages_fpn_backbone

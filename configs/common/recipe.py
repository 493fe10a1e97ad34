"""Schedule settings every GPU recipe shares (Cityscapes, ADE20K)."""
from .optim import optimizer
from .train import lr_multiplier, train

# The one switch for every norm (backbone, head, exits): "SyncBN" across GPUs, "BN" on one.
train.norm = "SyncBN"
train.amp.enabled = True
# ImageNet-pretrained R-50 in detectron2's format, from a local path (nothing is downloaded):
# train.init_checkpoint=/path/to/R-50.pkl
train.init_checkpoint = ""
optimizer.lr = 0.01
train.eval_period = 5000
train.checkpointer.period = 5000

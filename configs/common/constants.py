"""Numbers the configs share."""

# ImageNet statistics of RGB images in 0-255 (detectron2's BGR ones, reordered).
PIXEL_MEAN_RGB = [123.675, 116.28, 103.53]
PIXEL_STD_RGB = [58.395, 57.12, 57.375]

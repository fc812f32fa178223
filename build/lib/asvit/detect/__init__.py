"""COCO-format detection with an As-ViT backbone: the embedded generated set, the backbone adapter
for torchvision's feature pyramid and detectors, and COCOeval metrics."""

"""Detection groundwork: the generated COCO-format set read back through pycocotools, the As-ViT
backbone's pyramid levels for torchvision's detectors, and COCOeval on a real annotation file."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO
from torchvision.ops import box_iou

from asvit.config import Recipe
from asvit.detect.backbone import DETECTORS, build_detector
from asvit.detect.data import MIN_VISIBLE, write_coco_split
from asvit.detect.dataset import DetectionDataError, open_coco
from asvit.detect.metrics import coco_metrics, coco_results
from asvit.detect.train import fit_detector
from asvit.models import ASViT
from asvit.space import Topology
from asvit.train.recipe import make_optimizer, make_scheduler

from .conftest import PAPER_SEED


def load(path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    out = tmp_path_factory.mktemp("det")
    return out, load(write_coco_split(out, "val", 12, 96, 4, 5, seed=3))


def test_the_generated_set_is_real_coco_with_overlapping_masked_objects(coco, tmp_path):
    out, truth = coco
    assert [c["name"] for c in truth.loadCats(truth.getCatIds())] == ["circle", "square", "triangle", "cross"]
    overlapping = 0
    for image in truth.loadImgs(truth.getImgIds()):
        assert (out / "images/val" / image["file_name"]).is_file() and image["width"] == image["height"] == 96
        anns = truth.loadAnns(truth.getAnnIds(imgIds=image["id"]))
        assert anns, image
        for ann in anns:
            x, y, w, h = ann["bbox"]
            assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 96 and ann["iscrowd"] == 0
            mask = truth.annToMask(ann)
            assert mask.sum() == ann["area"] >= MIN_VISIBLE
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns])
        overlapping += int((box_iou(boxes, boxes) > 0).triu(diagonal=1).sum())
    assert overlapping > 0
    again = write_coco_split(tmp_path, "val", 12, 96, 4, 5, seed=3)
    assert again.read_bytes() == (out / "annotations/instances_val.json").read_bytes()


@pytest.mark.parametrize("text", [PAPER_SEED, "4,8,2|2,4,3|3,2,2|4,1,5|64", "6,4,4|3,2,6|2,1,3|3,1,2|16"])
@pytest.mark.parametrize("size", [(100, 140), (77, 61)])
def test_pyramid_levels_have_the_strides_and_channels_the_detectors_expect(text, size):
    topology = Topology.parse(text).scaled(width=8)
    detector = build_detector("maskrcnn", ASViT(topology, num_classes=1), 3, out_channels=32, min_size=96,
                              max_size=160).eval()
    images, _ = detector.transform([torch.rand(3, *size)])
    height, width = images.tensors.shape[-2:]
    assert height % 32 == 0 and width % 32 == 0
    with torch.no_grad():
        levels = detector.backbone(images.tensors)
    assert list(levels) == ["0", "1", "2", "3", "pool"]
    for stride, level in zip((4, 8, 16, 32), list(levels.values())[:4], strict=True):
        assert level.shape == (1, 32, height // stride, width // stride)
    assert levels["pool"].shape == (1, 32, -(-height // 64), -(-width // 64))


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_trains_and_predicts_on_the_backbone(name):
    # 64 channels: FCOS's head normalises 32 groups, which need two values each at its 1 x 1 level
    detector = build_detector(name, ASViT(Topology.parse(PAPER_SEED).scaled(width=8), num_classes=1), 3,
                              out_channels=64, min_size=64, max_size=96)
    target = {"boxes": torch.tensor([[8.0, 8.0, 40.0, 30.0]]), "labels": torch.tensor([2]),
              "masks": torch.zeros(1, 50, 70, dtype=torch.uint8)}
    losses = detector([torch.rand(3, 50, 70)], [target])
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert detector.backbone.body.tokenizer.conv.weight.grad is not None
    with torch.no_grad():
        [prediction] = detector.eval()([torch.rand(3, 50, 70)])
    assert {"boxes", "labels", "scores"} <= set(prediction) and ("masks" in prediction) == (name == "maskrcnn")


def truth_as_outputs(truth: COCO, image_id: int, shift: float = 0.0) -> dict[str, torch.Tensor]:
    """The annotations of one image as a torchvision detector output, boxes shifted right by ``shift``
    of their width."""
    anns = truth.loadAnns(truth.getAnnIds(imgIds=image_id))
    boxes = torch.tensor([[a["bbox"][0] + shift * a["bbox"][2], a["bbox"][1],
                           a["bbox"][0] + (1 + shift) * a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns],
                         dtype=torch.float64)
    masks = torch.stack([torch.from_numpy(truth.annToMask(a)).float() for a in anns]).unsqueeze(1)
    return {"boxes": boxes, "labels": torch.tensor([a["category_id"] for a in anns]),
            "scores": torch.linspace(1.0, 0.5, len(anns)), "masks": masks}


def test_cocoeval_gives_ap_1_for_the_truth_and_much_less_for_shifted_boxes(coco):
    _, truth = coco
    exact = [r for i in truth.getImgIds() for r in coco_results(i, truth_as_outputs(truth, i))]
    metrics = coco_metrics(truth, exact)
    assert metrics["bbox"]["AP"] == pytest.approx(1.0) and metrics["segm"]["AP"] == pytest.approx(1.0)
    assert metrics["bbox"]["APl"] is None  # no large objects in 96 px images: COCOeval's -1
    shifted = [r for i in truth.getImgIds() for r in coco_results(i, truth_as_outputs(truth, i, shift=0.3))]
    for record in shifted:
        del record["segmentation"]
    moved = coco_metrics(truth, shifted)
    assert set(moved) == {"bbox"}
    assert moved["bbox"]["AP"] < 0.5 and moved["bbox"]["AP50"] > moved["bbox"]["AP75"]
    assert coco_metrics(truth, [])["bbox"]["AP"] == 0.0


def test_a_split_reads_as_torchvision_targets(coco):
    out, truth = coco
    split = open_coco(out / "annotations/instances_val.json", out / "images/val")
    assert len(split) == 12 and split.num_classes == 5
    image, target = split[0]
    anns = truth.loadAnns(truth.getAnnIds(imgIds=split.ids[0]))
    assert image.shape == (3, 96, 96) and 0 <= image.min() and image.max() <= 1
    assert target["boxes"].shape == (len(anns), 4) and target["masks"].shape == (len(anns), 96, 96)
    assert target["labels"].tolist() == [split.label_of[a["category_id"]] for a in anns]
    x, y, w, h = anns[0]["bbox"]
    assert target["boxes"][0].tolist() == pytest.approx([x, y, x + w, y + h])


def broken(out, tmp_path, change):
    """A copy of the generated split with ``change(content)`` applied to its annotation file."""
    images = tmp_path / "images"
    shutil.copytree(out / "images/val", images)
    content = json.loads((out / "annotations/instances_val.json").read_text())
    change(content)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(content))
    return path, images


def _box_outside(content):
    content["annotations"][3]["bbox"][0] = 90.0


def _unknown_category(content):
    content["annotations"][2]["category_id"] = 42


@pytest.mark.parametrize("change, message", [
    (_box_outside, r"instances.json: annotation 4: box \[90.0, .*\] lies outside its image \(96 x 96, 0000\d\d.png\)"),
    (_unknown_category, r"instances.json: annotation 3: category id 42 is not in the file's categories \(1, 2, 3, 4\)"),
    (lambda content: content.pop("categories"), r"instances.json: not a COCO instances file \(no categories\)"),
])
def test_bad_annotations_name_the_file_and_the_annotation(coco, tmp_path, change, message):
    path, images = broken(coco[0], tmp_path, change)
    with pytest.raises(DetectionDataError, match=message):
        open_coco(path, images)


@pytest.mark.parametrize("change, message", [
    (lambda content: content["annotations"][1].pop("bbox"), r"instances.json: annotation 2: no 'bbox' field"),
    (lambda content: content["annotations"][1].update(bbox=[1, 2, 3]),
     r"instances.json: annotation 2: bbox must be \[x, y, width, height\], got \[1, 2, 3\]"),
    (lambda content: content["images"][0].pop("width"), r"instances.json: image 1: no 'width' field"),
    (lambda content: content["images"][0].update(height="96"),
     r"instances.json: image 1: height must be a positive integer, got '96'"),
    (lambda content: content["categories"].__setitem__(0, 5),
     r"instances.json: category: expected a JSON object, got 5"),
])
def test_records_missing_a_field_give_one_line_naming_the_record(coco, tmp_path, change, message):
    path, images = broken(coco[0], tmp_path, change)
    with pytest.raises(DetectionDataError, match=message):
        open_coco(path, images)


def test_decoding_checks_every_image_against_its_record(coco, tmp_path):
    path, images = broken(coco[0], tmp_path, lambda content: None)
    open_coco(path, images, decode=True)
    Image.new("RGB", (32, 32)).save(images / "000002.png")
    open_coco(path, images)  # without decoding, the size is not read
    with pytest.raises(DetectionDataError, match=r"000002.png: image id 2 is 32 x 32 px, its record says 96 x 96"):
        open_coco(path, images, decode=True)
    (images / "000002.png").write_bytes((coco[0] / "images/val/000003.png").read_bytes()[:80])
    with pytest.raises(DetectionDataError, match=r"image id 2: unreadable image .*000002.png: "):
        open_coco(path, images, decode=True)


def test_missing_or_malformed_files_are_named(coco, tmp_path):
    out, _ = coco
    path, images = broken(out, tmp_path, lambda content: None)
    (images / "000005.png").unlink()
    with pytest.raises(DetectionDataError, match=r"images/000005.png: image file of image id 5 not found"):
        open_coco(path, images)
    with pytest.raises(DetectionDataError, match=r"nothing.json: annotation file not found"):
        open_coco(tmp_path / "nothing.json", images)
    path.write_text('{"images": [')
    with pytest.raises(DetectionDataError, match=r"instances.json: not valid JSON"):
        open_coco(path, images)


@pytest.fixture(scope="module")
def tiny_splits(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-det")
    for split, seed in (("train", 0), ("val", 1)):
        write_coco_split(out, split, 8 if split == "train" else 4, 64, 3, 3, seed=seed)
    return [open_coco(out / f"annotations/instances_{s}.json", out / f"images/{s}") for s in ("train", "val")]


def tiny_detector(seed: int = 0):
    torch.manual_seed(seed)
    return build_detector("maskrcnn", ASViT(Topology.parse(PAPER_SEED).scaled(width=8), num_classes=1), 4,
                          out_channels=32, min_size=64, max_size=64, box_detections_per_img=20)


RECIPE = Recipe(epochs=2, batch_size=4, lr=1e-3, warmup_epochs=0, phase_ends=None)


class Stop(Exception):
    pass


def test_a_few_training_steps_run_and_report_coco_metrics(tiny_splits):
    train_set, val_set = tiny_splits
    result = fit_detector(tiny_detector(), train_set, val_set, RECIPE, progress=False, eval_batch_size=4)
    assert [r.epoch for r in result.history] == [0, 1] and result.resumed_epochs == 0
    first = result.history[0]
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} == set(first.losses)
    assert first.loss == pytest.approx(sum(first.losses.values()))
    assert first.images == 8 and first.images_per_s > 0
    assert set(result.metrics) == {"bbox", "segm"} and 0 <= result.metrics["bbox"]["AP"] <= 1


def test_a_run_stopped_after_an_epoch_resumes_to_the_same_weights(tiny_splits, tmp_path):
    train_set, val_set = tiny_splits
    whole = tiny_detector()
    fit_detector(whole, train_set, val_set, RECIPE, progress=False, seed=5, eval_batch_size=4, backbone_lr_scale=0.1)

    def stop(history):
        raise Stop

    with pytest.raises(Stop):
        fit_detector(tiny_detector(), train_set, val_set, RECIPE, checkpoint_dir=tmp_path, progress=False, seed=5,
                     on_epoch=stop, eval_batch_size=4, backbone_lr_scale=0.1)
    resumed = tiny_detector(seed=9)  # another initialisation: everything comes from the checkpoint
    result = fit_detector(resumed, train_set, val_set, RECIPE, checkpoint_dir=tmp_path, progress=False, seed=5,
                          eval_batch_size=4, backbone_lr_scale=0.1)
    assert result.resumed_epochs == 1
    final, expected = resumed.state_dict(), whole.state_dict()
    assert all(torch.equal(final[k], expected[k]) for k in expected)


def test_the_backbone_learns_at_its_fraction_of_the_rate_through_the_whole_schedule():
    model = tiny_detector()
    recipe = Recipe(epochs=2, lr=1e-3, warmup_epochs=1, phase_ends=None)
    optimizer = make_optimizer(model, recipe, {"backbone.body": 0.1})
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch=3)
    body = {id(p) for p in model.backbone.body.parameters()}
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # every parameter exactly once
    plain = make_optimizer(model, recipe)
    decay = {id(p) for g in plain.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for step in range(6):
        scheduler.step_update(step)
        rate = {bool({id(p) for p in g["params"]} & body): g["lr"] for g in optimizer.param_groups}
        assert rate[True] == pytest.approx(0.1 * rate[False]) and rate[False] > 0
    for group in optimizer.param_groups:
        ids = {id(p) for p in group["params"]}
        assert ids <= body or not ids & body
        assert ids <= decay if group["weight_decay"] > 0 else not ids & decay

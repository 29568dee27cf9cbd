"""mask2former.engine.prediction_writer and tools/predict.py: raw results written as files that
read back to the outputs, and that the reference evaluators (panopticapi, pycocotools,
Detectron2's SemSegEvaluator) accept; the tool end to end on a tiny trained-looking model."""

import json
import logging

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata
from detectron2.evaluation import SemSegEvaluator
from detectron2.structures import Boxes, Instances
from panopticapi.evaluation import pq_compute_single_core
from panopticapi.utils import rgb2id
from PIL import Image
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from helpers.configs import tiny_config_file
from helpers.scripts import load_script
from mask2former.engine.prediction_writer import PredictionWriter
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.modeling.postprocessing import encode_rle

H, W = 24, 32


def three_class_metadata() -> Metadata:
    """Classes 0 ("cat", thing, dataset id 5), 1 ("dog", thing, id 7), 2 ("sky", stuff, id 40)."""
    return Metadata(
        name="writer_test",
        stuff_classes=["cat", "dog", "sky"],
        thing_classes=["cat", "dog"],
        thing_dataset_id_to_contiguous_id={5: 0, 7: 1},
        stuff_dataset_id_to_contiguous_id={5: 0, 7: 1, 40: 2},
    )


def panoptic_output():
    """A (H, W) map: segment 3 a "dog" thing (score 0.9), segment 1 "sky" stuff, 0 void."""
    panoptic = torch.zeros(H, W, dtype=torch.int32)
    panoptic[:12] = 1
    panoptic[14:20, 4:10] = 3
    segments = [
        {"id": 3, "isthing": True, "category_id": 1, "score": 0.9},
        {"id": 1, "isthing": False, "category_id": 2},
    ]
    return panoptic, segments


def two_instances(rle: bool = False) -> Instances:
    masks = torch.zeros(2, H, W, dtype=torch.bool)
    masks[0, 2:10, 3:12] = True
    masks[1, 12:22, 15:30] = True
    instances = Instances((H, W))
    instances.pred_boxes = Boxes(torch.tensor([[3.0, 2.0, 12.0, 10.0], [15.0, 12.0, 30.0, 22.0]]))
    instances.scores = torch.tensor([0.75, 0.5])
    instances.pred_classes = torch.tensor([1, 0])
    if rle:
        instances.pred_masks_rle = encode_rle(masks)
    else:
        instances.pred_masks = masks
    return instances


def test_semantic_png_is_the_argmax(tmp_path):
    sem_seg = torch.randn(2, H, W)
    with PredictionWriter(str(tmp_path), three_class_metadata(), 3) as writer:
        assert writer.write("photos/a.jpg", {"sem_seg": sem_seg}) == ["semantic"]
    png = np.asarray(Image.open(tmp_path / "sem_seg" / "a.png"))
    assert png.dtype == np.uint8 and png.shape == (H, W)
    np.testing.assert_array_equal(png, sem_seg.argmax(0).numpy())
    assert 0 < png.mean() < 1  # both classes present
    assert not (tmp_path / "panoptic.json").exists() and not (tmp_path / "instances.json").exists()


def test_semantic_png_of_many_classes_is_16_bit(tmp_path):
    sem_seg = torch.randn(300, H, W)
    sem_seg[299, 0, 0] = 100.0
    metadata = Metadata(name="many", stuff_classes=[f"c{i}" for i in range(300)])
    with PredictionWriter(str(tmp_path), metadata, 300) as writer:
        writer.write("a.png", {"sem_seg": sem_seg})
    png = np.asarray(Image.open(tmp_path / "sem_seg" / "a.png"))
    assert png.dtype == np.uint16 and png[0, 0] == 299
    np.testing.assert_array_equal(png, sem_seg.argmax(0).numpy())


def test_panoptic_png_and_json_read_back_with_dataset_ids(tmp_path):
    panoptic, segments = panoptic_output()
    with PredictionWriter(str(tmp_path), three_class_metadata(), 3) as writer:
        writer.write("dir/b.jpg", {"panoptic_seg": (panoptic, segments)}, image_id=11)
    ids = rgb2id(np.asarray(Image.open(tmp_path / "panoptic" / "b.png")))
    np.testing.assert_array_equal(ids, panoptic.numpy())
    content = json.loads((tmp_path / "panoptic.json").read_text())
    assert content["images"] == [{"id": 11, "file_name": "b.jpg", "height": H, "width": W}]
    (annotation,) = content["annotations"]
    assert annotation["file_name"] == "b.png" and annotation["image_id"] == 11
    assert annotation["segments_info"] == [
        {
            "id": 3,
            "category_id": 7,
            "isthing": 1,
            "iscrowd": 0,
            "area": 36,
            "bbox": [4, 14, 6, 6],
            "score": 0.9,
        },
        {
            "id": 1,
            "category_id": 40,
            "isthing": 0,
            "iscrowd": 0,
            "area": 12 * W,
            "bbox": [0, 0, W, 12],
        },
    ]
    assert content["categories"] == [
        {"id": 5, "name": "cat", "isthing": 1},
        {"id": 7, "name": "dog", "isthing": 1},
        {"id": 40, "name": "sky", "isthing": 0},
    ]


@pytest.mark.parametrize("rle", [False, True], ids=["bitmask", "rle"])
def test_instance_json_decodes_to_the_masks_with_dataset_ids(tmp_path, rle):
    instances = two_instances(rle)
    with PredictionWriter(str(tmp_path), three_class_metadata(), 3) as writer:
        writer.write("c.png", {"instances": instances}, image_id=4)
    results = json.loads((tmp_path / "instances.json").read_text())
    expected_masks = two_instances().pred_masks.numpy()
    assert [r["category_id"] for r in results] == [7, 5]
    assert [r["score"] for r in results] == [0.75, 0.5]
    assert [r["image_id"] for r in results] == [4, 4]
    assert results[0]["bbox"] == [3.0, 2.0, 9.0, 8.0]  # XYWH
    for result, mask in zip(results, expected_masks):
        np.testing.assert_array_equal(mask_util.decode(result["segmentation"]).astype(bool), mask)


def test_unmapped_class_is_refused(tmp_path):
    metadata = Metadata(
        name="two", stuff_classes=["a", "b"], thing_dataset_id_to_contiguous_id={9: 0}
    )
    writer = PredictionWriter(str(tmp_path), metadata, 2)
    instances = two_instances()  # classes 1 and 0: 1 has no dataset id
    with pytest.raises(ValueError, match="class 1 of the model has no dataset id"):
        writer.write("c.png", {"instances": instances})


def test_written_results_are_what_the_evaluators_accept(tmp_path):
    """The panoptic files as their own ground truth through panopticapi: PQ 100; the
    instance JSON as its own ground truth through pycocotools' COCOeval: mask AP 1.0; the
    semantic PNGs as ground truth of Detectron2's SemSegEvaluator: mIoU 100."""
    panoptic, segments = panoptic_output()
    sem_seg = torch.randn(3, H, W)
    with PredictionWriter(str(tmp_path), three_class_metadata(), 3) as writer:
        writer.write("d.jpg", {"panoptic_seg": (panoptic, segments), "sem_seg": sem_seg,
                               "instances": two_instances()}, image_id=1)  # fmt: skip

    content = json.loads((tmp_path / "panoptic.json").read_text())
    categories = {c["id"]: c for c in content["categories"]}
    (annotation,) = content["annotations"]
    folder = str(tmp_path / "panoptic")
    stat = pq_compute_single_core(0, [(annotation, annotation)], folder, folder, categories)
    pq, _ = stat.pq_average(categories, isthing=None)
    assert pq["n"] == 2 and pq["pq"] == pytest.approx(1.0)

    results = json.loads((tmp_path / "instances.json").read_text())
    ground_truth = COCO()
    ground_truth.dataset = {
        "images": [{"id": 1, "height": H, "width": W}],
        "categories": content["categories"],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": r["category_id"],
                "iscrowd": 0,
                "segmentation": r["segmentation"],
                "bbox": r["bbox"],
                "area": float(mask_util.area(r["segmentation"])),
            }  # fmt: skip
            for i, r in enumerate(results)
        ],
    }
    ground_truth.createIndex()
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "segm")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)

    name = "writer_test_sem_seg"
    DatasetCatalog.register(name, lambda: [])
    try:
        MetadataCatalog.get(name).set(stuff_classes=["cat", "dog", "sky"], ignore_label=255)
        evaluator = SemSegEvaluator(name, distributed=False)
        evaluator.input_file_to_gt_file = {"d.jpg": str(tmp_path / "sem_seg" / "d.png")}
        evaluator.reset()
        evaluator.process([{"file_name": "d.jpg"}], [{"sem_seg": sem_seg}])
        assert evaluator.evaluate()["sem_seg"]["mIoU"] == pytest.approx(100.0)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture(scope="module")
def predict_cli():
    return load_script("tools/predict.py", "predict_cli")


def test_tool_end_to_end(predict_cli, tmp_path, caplog):
    config = tiny_config_file("panoptic")  # semantic, panoptic and instance results
    trained = MaskFormerPredictor(
        predict_cli.inference_config(config, ["MODEL.DEVICE", "cpu"], "", random_weights=True),
        random_weights=True,
    )
    with torch.no_grad():  # weights unlike any fresh initialisation
        for p in trained.model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    weights = tmp_path / "model_final.pth"
    torch.save({"model": trained.model.state_dict()}, weights)
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(inputs / name), rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    out = tmp_path / "out"

    with caplog.at_level(logging.INFO):
        rc = predict_cli.cli(["--config-file", config, "--input", str(inputs), "--output", str(out),
                              "--batch-size", "2", "MODEL.WEIGHTS", str(weights),
                              "MODEL.DEVICE", "cpu", "MODEL.MASK_FORMER.TEST.PANOPTIC_SEGMENT_SCORES",
                              "True", "MODEL.MASK_FORMER.TEST.INSTANCE_MASK_FORMAT", "rle"])  # fmt: skip
    assert rc == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "predict"]
    assert len(lines) == 2 and lines[0].startswith(
        f"{inputs / 'a.png'}: semantic, panoptic, instance in "
    )
    assert sorted(p.name for p in (out / "sem_seg").iterdir()) == ["a.png", "b.png"]
    metadata = MetadataCatalog.get("shapes_panoptic_val")
    dataset_ids = set(metadata.stuff_dataset_id_to_contiguous_id)
    content = json.loads((out / "panoptic.json").read_text())
    assert [a["file_name"] for a in content["annotations"]] == ["a.png", "b.png"]
    for annotation in content["annotations"]:
        ids = rgb2id(np.asarray(Image.open(out / "panoptic" / annotation["file_name"])))
        assert ids.shape == (40, 56)
        for info in annotation["segments_info"]:
            assert info["area"] == (ids == info["id"]).sum() > 0
            assert info["category_id"] in dataset_ids and 0 <= info["score"] <= 1
    results = json.loads((out / "instances.json").read_text())
    assert {r["image_id"] for r in results} == {"a", "b"}
    thing_ids = set(metadata.thing_dataset_id_to_contiguous_id)
    assert results and all(r["category_id"] in thing_ids for r in results)
    assert mask_util.decode(results[0]["segmentation"]).shape == (40, 56)


def test_tool_errors_are_one_line(predict_cli, tmp_path, capsys, caplog):
    config = tiny_config_file("semantic")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    rc = predict_cli.cli(["--config-file", config, "--input", str(image), "--output",
                          str(tmp_path / "out"), "--batch-size", "0"])  # fmt: skip
    assert rc == 2
    assert (
        capsys.readouterr().err.strip()
        == "predict.py: error: --batch-size must be at least 1, got 0"
    )
    rc = predict_cli.cli(["--config-file", config, "--input", str(image), "--output",
                          str(tmp_path / "out"), "MODEL.DEVICE", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("predict.py: error: ") and "MODEL.WEIGHTS" in err
    assert "\n" not in err
    with caplog.at_level(logging.ERROR):
        rc = predict_cli.cli(["--config-file", config, "--input", str(tmp_path / "none.png"),
                              "--output", str(tmp_path / "out")])  # fmt: skip
    assert rc == 1 and "no such file" in caplog.text

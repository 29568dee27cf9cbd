"""Raw results of a model on images, written as files that evaluators and other tools read.

For each image, given the model's output dict, :class:`PredictionWriter` writes what the model
produced:

- ``sem_seg/<stem>.png``: the class of each pixel, argmax of "sem_seg" (K, H, W), as the
  model's contiguous class index (uint8 PNG; uint16 when K > 256), the format of Detectron2's
  semantic ground-truth files.
- ``panoptic/<stem>.png`` and one ``panoptic.json``: COCO panoptic format, segment ids as RGB
  (panopticapi's ``id2rgb``; 0 is void), with "images", "annotations" (file_name, image_id,
  segments_info: id, category_id as the dataset's id, isthing, iscrowd 0, area, bbox XYWH,
  score when the model gives one) and "categories": the file is also a valid COCO panoptic
  ground truth (pseudo-labels).
- ``instances.json``: COCO results format (image_id, category_id as the dataset's id, bbox
  XYWH, score, segmentation as RLE), as Detectron2's ``COCOEvaluator`` writes it.

Dataset ids come back from the model's contiguous ids through the metadata's
``thing_dataset_id_to_contiguous_id`` / ``stuff_dataset_id_to_contiguous_id`` when it has them
(as Detectron2's COCO evaluators do); without them the contiguous ids are written.
"""

import json
import os
from typing import Dict, List, Optional, Union

import numpy as np
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from panopticapi.utils import id2rgb
from PIL import Image

from .visualization import drawing_metadata

__all__ = ["PredictionWriter"]

# the most classes a uint8 label PNG holds
_UINT8_CLASSES = 256


class PredictionWriter:
    """Writes the model outputs of images under ``output_dir`` (see the module's docstring).

    Use it as a context manager, or call :meth:`close` at the end: the JSON files are written
    then, once, for all images.
    """

    def __init__(self, output_dir: str, metadata, num_classes: int):
        """
        Args:
            output_dir: the folder to write into (created when needed).
            metadata: Detectron2 ``Metadata`` of the model's classes (class names, and the
                dataset id mappings when the dataset has them).
            num_classes: K, the model's number of classes (MODEL.SEM_SEG_HEAD.NUM_CLASSES).
        """
        self.output_dir = output_dir
        self.num_classes = num_classes
        self._names = drawing_metadata(metadata, num_classes).stuff_classes
        thing_map = metadata.get("thing_dataset_id_to_contiguous_id", None) or {}
        stuff_map = metadata.get("stuff_dataset_id_to_contiguous_id", None) or {}
        self._thing_ids = {v: k for k, v in thing_map.items()}
        self._stuff_ids = {v: k for k, v in stuff_map.items()}
        self._used_stems = set()
        self._images: List[Dict] = []
        self._panoptic: List[Dict] = []
        self._instances: Optional[List[Dict]] = None

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def dataset_id(self, label: int, isthing: bool) -> int:
        """The dataset's category id of the model's contiguous ``label``: through the thing
        mapping for things (the stuff one as a fallback), the stuff mapping for stuff."""
        first, second = (
            (self._thing_ids, self._stuff_ids) if isthing else (self._stuff_ids, self._thing_ids)
        )
        if not first and not second:
            return int(label)
        for ids in (first, second):
            if label in ids:
                return int(ids[label])
        raise ValueError(
            f"class {label} of the model has no dataset id in the metadata's "
            "thing_dataset_id_to_contiguous_id / stuff_dataset_id_to_contiguous_id: the "
            "metadata is not that of the model's classes"
        )

    def _stem(self, file_name: str) -> str:
        """The file name's stem, with a suffix _1, _2... when an earlier image had it."""
        stem = base = os.path.splitext(os.path.basename(file_name))[0]
        n = 0
        while stem in self._used_stems:
            n += 1
            stem = f"{base}_{n}"
        self._used_stems.add(stem)
        return stem

    def _write_png(self, folder: str, stem: str, array: np.ndarray) -> str:
        os.makedirs(os.path.join(self.output_dir, folder), exist_ok=True)
        name = stem + ".png"
        Image.fromarray(array).save(os.path.join(self.output_dir, folder, name))
        return name

    def write(
        self, file_name: str, outputs: Dict, image_id: Union[int, str, None] = None
    ) -> List[str]:
        """Writes the results of one image.

        Args:
            file_name: the image's file (its stem names the PNGs).
            outputs: the model's output dict for it: some of "sem_seg" (K, H, W), "panoptic_seg"
                ((H, W) int segment ids, list of segment dicts) and "instances" (``Instances``
                with pred_masks (R, H, W) or pred_masks_rle, pred_boxes, scores, pred_classes).
            image_id: the image's id in the JSON files (default: the stem).

        Returns:
            the kinds of results written ("semantic", "panoptic", "instance").
        """
        stem = self._stem(file_name)
        image_id = stem if image_id is None else image_id
        written = []
        height = width = None
        if "sem_seg" in outputs:
            labels = outputs["sem_seg"].argmax(dim=0).cpu().numpy()
            dtype = np.uint8 if self.num_classes <= _UINT8_CLASSES else np.uint16
            self._write_png("sem_seg", stem, labels.astype(dtype))
            height, width = labels.shape
            written.append("semantic")
        if "panoptic_seg" in outputs:
            panoptic, segments = outputs["panoptic_seg"]
            panoptic = panoptic.cpu().numpy().astype(np.int64)
            height, width = panoptic.shape
            name = self._write_png("panoptic", stem, id2rgb(panoptic))
            self._panoptic.append(
                {
                    "file_name": name,
                    "image_id": image_id,
                    "segments_info": [self._segment_info(s, panoptic) for s in segments],
                }  # fmt: skip
            )
            written.append("panoptic")
        if "instances" in outputs:
            instances = outputs["instances"].to("cpu")
            height, width = instances.image_size
            if self._instances is None:
                self._instances = []
            self._instances.extend(self._instance_results(instances, image_id))
            written.append("instance")
        if written:
            self._images.append(
                {
                    "id": image_id,
                    "file_name": os.path.basename(file_name),
                    "height": int(height),
                    "width": int(width),
                }  # fmt: skip
            )
        return written

    def _segment_info(self, segment: Dict, panoptic: np.ndarray) -> Dict:
        isthing = bool(segment["isthing"])
        ys, xs = np.nonzero(panoptic == segment["id"])
        bbox = [0, 0, 0, 0]
        if len(ys):
            bbox = [
                int(xs.min()),
                int(ys.min()),
                int(xs.max() - xs.min() + 1),
                int(ys.max() - ys.min() + 1),
            ]
        info = {
            "id": int(segment["id"]),
            "category_id": self.dataset_id(int(segment["category_id"]), isthing),
            "isthing": int(isthing),
            "iscrowd": 0,
            "area": len(ys),
            "bbox": bbox,
        }
        if "score" in segment:
            info["score"] = float(segment["score"])
        return info

    def _instance_results(self, instances, image_id) -> List[Dict]:
        results = instances_to_coco_json(instances, image_id)
        rles = instances.get("pred_masks_rle") if instances.has("pred_masks_rle") else None
        for k, result in enumerate(results):
            result["category_id"] = self.dataset_id(result["category_id"], isthing=True)
            if rles is not None:  # masks the model returned as RLE already
                counts = rles[k]["counts"]
                result["segmentation"] = {
                    "size": list(rles[k]["size"]),
                    "counts": counts.decode("utf-8") if isinstance(counts, bytes) else counts,
                }
        return results

    def categories(self) -> List[Dict]:
        """The COCO categories of the model's K classes: the dataset's id, name, isthing."""
        categories = []
        for label, name in enumerate(self._names):
            isthing = label in self._thing_ids
            categories.append(
                {"id": self.dataset_id(label, isthing), "name": name, "isthing": int(isthing)}
            )
        return categories

    def close(self) -> None:
        """Writes ``panoptic.json`` and ``instances.json`` for the images the model gave those
        results for."""
        if self._panoptic:
            panoptic_images = {a["image_id"] for a in self._panoptic}
            self._dump(
                "panoptic.json",
                {
                    "images": [i for i in self._images if i["id"] in panoptic_images],
                    "annotations": self._panoptic,
                    "categories": self.categories(),
                },  # fmt: skip
            )
        if self._instances is not None:
            self._dump("instances.json", self._instances)

    def _dump(self, name: str, content) -> None:
        os.makedirs(self.output_dir, exist_ok=True)
        with open(os.path.join(self.output_dir, name), "w") as f:
            json.dump(content, f)

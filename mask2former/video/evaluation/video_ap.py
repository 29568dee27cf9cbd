"""Video AP / AR as YouTube-VIS defines them, through pycocotools' COCOeval.

A video plays the role of COCO's image and an object track (ground truth or prediction) that of
an instance. The IoU of two tracks is their spatio-temporal mask IoU: intersections summed over
all frames of the video, divided by unions summed over all frames. A track's area, which
decides its area range, is its mean mask area over the frames where it is visible; the area
ranges are YouTube-VIS's: small below 128^2 pixels, medium up to 256^2, large above. The
matching, the precision / recall accumulation (IoU 0.5:0.05:0.95, 101 recall points, up to
1 / 10 / 100 detections per video) and the summary are COCOeval's own.
"""

import contextlib
import io
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..._private_api import compared_annotations
from ...evaluation.coco_eval import COCO_STAT_NAMES as STAT_NAMES

__all__ = [
    "AREA_RANGES",
    "STAT_NAMES",
    "VideoCOCOeval",
    "evaluate_videos",
    "frame_rles",
    "spatio_temporal_iou",
    "visible_area",
]

AREA_RANGES = {
    "all": [0, 1e5**2],
    "small": [0, 128**2],
    "medium": [128**2, 256**2],
    "large": [256**2, 1e5**2],
}

RLE = Dict


def frame_rles(segmentations: Sequence, height: int, width: int) -> List[RLE]:
    """Per frame, a compressed RLE of the frame's mask: from compressed or uncompressed RLE or
    polygons; an empty RLE for a frame without mask (None / empty)."""
    rles = []
    for segmentation in segmentations:
        if not segmentation:
            segmentation = mask_util.encode(np.zeros((height, width, 1), np.uint8, order="F"))[0]
        elif isinstance(segmentation, list):
            segmentation = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation["counts"], list):
            segmentation = mask_util.frPyObjects(segmentation, height, width)
        rles.append(segmentation)
    return rles


def visible_area(rles: Sequence[RLE]) -> float:
    """Mean mask area over the frames where the mask is not empty (0 if it never is)."""
    areas = mask_util.area(list(rles)).astype(np.float64)
    visible = areas[areas > 0]
    return float(visible.mean()) if len(visible) else 0.0


def spatio_temporal_iou(dts: Sequence[Sequence[RLE]], gts: Sequence[Sequence[RLE]]) -> np.ndarray:
    """(D, G) IoU of D and G tracks of the same T frames: sum over frames of the pairs'
    intersection areas / sum over frames of their union areas (0 where both are empty)."""
    num_frames = {len(t) for t in list(dts) + list(gts)}
    if len(num_frames) > 1:
        raise ValueError(
            f"tracks of one video have different numbers of frames: {sorted(num_frames)}"
        )
    intersection = np.zeros((len(dts), len(gts)))
    union = np.zeros((len(dts), len(gts)))
    if not len(dts) or not len(gts):
        return union
    for frame in range(num_frames.pop() if num_frames else 0):
        d = [track[frame] for track in dts]
        g = [track[frame] for track in gts]
        area_d = mask_util.area(d).astype(np.float64)[:, None]
        area_g = mask_util.area(g).astype(np.float64)[None, :]
        iou = mask_util.iou(d, g, [0] * len(g))
        # iou = I / (a + b - I)  =>  I = iou (a + b) / (1 + iou), an integer up to rounding
        inter = np.rint(iou * (area_d + area_g) / (1 + iou))
        intersection += inter
        union += area_d + area_g - inter
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


class VideoCOCOeval(COCOeval):
    """COCOeval whose IoU is :func:`spatio_temporal_iou` of the tracks' per-frame masks.

    The COCO objects hold one annotation per track with "id" (non-zero), "image_id" (the
    video), "category_id", "area" (:func:`visible_area`), "iscrowd" (ground truth) or "score"
    (predictions); the masks are passed separately, by annotation id. COCOeval runs with
    iouType "bbox" only so that it does not convert "segmentation" fields, which these
    annotations do not have: the IoU comes from :meth:`computeIoU` alone. As in YouTube-VIS's
    evaluation, crowd tracks are ignored ground truth compared by plain IoU.
    """

    def __init__(self, coco_gt: COCO, coco_dt: COCO, gt_masks: Dict, dt_masks: Dict):
        super().__init__(coco_gt, coco_dt, iouType="bbox")
        self.params.areaRng = list(AREA_RANGES.values())
        self.params.areaRngLbl = list(AREA_RANGES)
        self.gt_masks = gt_masks
        self.dt_masks = dt_masks

    def computeIoU(self, imgId, catId):
        gt, dt = compared_annotations(self, imgId, catId)
        if not gt and not dt:
            return []
        return spatio_temporal_iou(
            [self.dt_masks[d["id"]] for d in dt], [self.gt_masks[g["id"]] for g in gt]
        )


def _coco(videos, categories, annotations) -> COCO:
    coco = COCO()
    coco.dataset = {"images": videos, "categories": categories, "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def evaluate_videos(
    ground_truth: Dict, predictions: List[Dict]
) -> Tuple[Dict[str, float], VideoCOCOeval]:
    """Video AP / AR of predictions in the YouTube-VIS results format.

    Args:
        ground_truth: a YouTube-VIS JSON dict with "videos", "categories", "annotations".
        predictions: dicts with "video_id", "category_id" (dataset id), "score" and
            "segmentations" (one RLE per frame of the video).
    Returns:
        {name: value} of :data:`STAT_NAMES` (fractions in [0, 1]; -1 where undefined, as
        COCOeval), and the evaluated :class:`VideoCOCOeval` (per-class precision in
        ``.eval["precision"]``).
    """
    videos = {v["id"]: v for v in ground_truth["videos"]}
    gt_annotations, gt_masks = [], {}
    for new_id, ann in enumerate(ground_truth.get("annotations", []), start=1):
        video = videos[ann["video_id"]]
        segmentations = ann.get("segmentations") or [None] * video["length"]
        gt_masks[new_id] = frame_rles(segmentations, video["height"], video["width"])
        gt_annotations.append(
            {
                "id": new_id,
                "image_id": ann["video_id"],
                "category_id": ann["category_id"],
                "iscrowd": ann.get("iscrowd", 0),
                "area": visible_area(gt_masks[new_id]),
            }
        )
    dt_annotations, dt_masks = [], {}
    for new_id, pred in enumerate(predictions, start=1):
        if pred["video_id"] not in videos:
            raise ValueError(
                f"a prediction names video {pred['video_id']}, which the ground truth lacks"
            )
        video = videos[pred["video_id"]]
        if len(pred["segmentations"]) != video["length"]:
            raise ValueError(
                f"a prediction for video {video['id']} has {len(pred['segmentations'])} masks; "
                f"the video has {video['length']} frames"
            )
        dt_masks[new_id] = frame_rles(pred["segmentations"], video["height"], video["width"])
        dt_annotations.append(
            {
                "id": new_id,
                "image_id": pred["video_id"],
                "category_id": pred["category_id"],
                "score": float(pred["score"]),
                "area": visible_area(dt_masks[new_id]),
            }
        )
    images = [{"id": v["id"], "height": v["height"], "width": v["width"]} for v in videos.values()]
    categories = [{"id": c["id"], "name": c["name"]} for c in ground_truth["categories"]]
    evaluator = VideoCOCOeval(
        _coco(images, categories, gt_annotations),
        _coco(images, categories, dt_annotations),
        gt_masks,
        dt_masks,
    )
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STAT_NAMES, (float(s) for s in evaluator.stats))), evaluator

"""Evaluation of video instance segmentation (registers evaluator_type "ytvis" on import)."""

from ...evaluation.build import ALWAYS, register_evaluator_type
from .video_ap import evaluate_videos, spatio_temporal_iou
from .ytvis_evaluation import YTVISEvaluator, video_results

__all__ = ["YTVISEvaluator", "evaluate_videos", "spatio_temporal_iou", "video_results"]

register_evaluator_type(
    "ytvis", {ALWAYS: lambda name, output_dir: YTVISEvaluator(name, output_dir)}
)

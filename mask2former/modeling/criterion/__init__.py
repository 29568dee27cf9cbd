"""The training objective: Hungarian matching of predictions to ground-truth segments
(:mod:`.matcher`), the set criterion's losses (:mod:`.set_criterion`), the per-mask losses and
pairwise costs both use (:mod:`.losses`) and target-mask padding (:mod:`.target_masks`)."""

from .matcher import HungarianMatcher
from .set_criterion import SetCriterion

__all__ = ["HungarianMatcher", "SetCriterion"]

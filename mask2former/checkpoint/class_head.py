"""Loading weights trained for another number of classes (fine-tuning a published model on
one's own classes): every tensor loads except those whose size is the number of classes (the
class head, and the criterion's class weights), which keep their fresh initialization. Detectron2's
checkpointer already skips tensors of another shape; :func:`class_count_change` tells when
that is all that happened, so that one line can say so."""

from typing import Optional

__all__ = ["class_count_change"]


def _model_num_classes(model) -> Optional[int]:
    head = getattr(getattr(model, "module", model), "sem_seg_head", None)  # DDP wraps the model
    return getattr(head, "num_classes", None)


def class_count_change(report, model) -> Optional[str]:
    """One log line for a load whose only tensors not loaded are those of another size in
    their first dimension, all by the same amount (another number of classes); None for any
    other load.

    Args:
        report: the :class:`~mask2former.checkpoint.checkpointer.LoadReport` of the load.
        model: the model loaded into (for its number of classes).
    """
    skipped = report.incorrect_shapes
    if not skipped or report.missing or report.unexpected:
        return None
    if any(len(c) != len(m) or not c or c[1:] != m[1:] for _, c, m in skipped):
        return None
    differences = {c[0] - m[0] for _, c, m in skipped}
    if len(differences) != 1:
        return None
    num_classes = _model_num_classes(model)
    classes = (
        f" (the checkpoint's model has {num_classes + differences.pop()} classes, this one {num_classes})"
        if num_classes is not None
        else ""
    )
    tensors = ", ".join(f"{name} {c} -> {m}" for name, c, m in skipped)
    total = len(report.loaded) + len(skipped)
    return (
        f"Fine-tuning from {report.source}{classes}: loaded {len(report.loaded)} of {total} "
        f"tensors; the class head starts afresh, not loaded for its shape (checkpoint -> "
        f"model): {tensors}."
    )

"""Resize augmentations that never round a side down to zero pixels.

Detectron2's :class:`~detectron2.data.transforms.ResizeShortestEdge` and
:class:`~detectron2.data.transforms.ResizeScale` round the output size to the nearest integer.
For an image of extreme aspect ratio (say 1 x 1000 pixels, resized so that its long side fits
MAX_SIZE) the short side becomes 0 and the resize fails deep inside PIL / torch with "height
and width must be > 0", without naming the image. These subclasses keep at least one pixel
per side and are otherwise identical (same arguments, same random choices).
"""

from detectron2.data import transforms as T

__all__ = ["ResizeShortestEdge", "ResizeScale", "at_least_one_pixel"]


def at_least_one_pixel(transform: T.Transform) -> T.Transform:
    """``transform``, or for a :class:`ResizeTransform` to a height or width below 1, the same
    resize with that side set to 1 pixel."""
    if isinstance(transform, T.ResizeTransform) and min(transform.new_h, transform.new_w) < 1:
        return T.ResizeTransform(
            transform.h,
            transform.w,
            max(int(transform.new_h), 1),
            max(int(transform.new_w), 1),
            transform.interp,
        )
    return transform


class ResizeShortestEdge(T.ResizeShortestEdge):
    """Detectron2's ResizeShortestEdge; an output side that would round to 0 becomes 1 pixel."""

    def get_transform(self, image):
        return at_least_one_pixel(super().get_transform(image))


class ResizeScale(T.ResizeScale):
    """Detectron2's ResizeScale (large-scale jittering); an output side that would round to 0
    becomes 1 pixel."""

    def get_transform(self, image):
        return at_least_one_pixel(super().get_transform(image))

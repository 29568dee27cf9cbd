"""A torch.rand stand-in that puts the sampled points of point-sampled losses and matching
costs on pixel centres, so that point costs equal dense costs."""

import torch


def pixel_centres(h, w):
    """(h*w, 2) normalized (x, y) coordinates of every pixel centre, row-major."""
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def fake_rand_at_pixel_centres(h, w):
    """A torch.rand replacement that returns every pixel centre of an (h, w) grid (repeated to
    the requested (N, h*w, 2) shape), so point sampling reads exact pixel values."""
    centres = pixel_centres(h, w)

    def fake_rand(*size, device=None, **kwargs):
        assert size[-2:] == (h * w, 2), size
        return centres.expand(*size).clone().to(device)

    return fake_rand

"""Operations on uint8 image batches of shape (N, 3, H, W)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .errors import DataError

_CHUNK = 2048  # images processed at once, bounding the float memory of a whole-dataset operation


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` resized to ``size`` x ``size`` (bilinear, antialiased), still uint8."""
    if images.shape[-2:] == (size, size):
        return images
    chunks = [
        F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
        for chunk in images.split(_CHUNK)
    ]
    return torch.cat(chunks)


def grey_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) grey images as (N, 3, H, W) by repeating the channel."""
    return images.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 ``images``, in [0, 1] pixel units."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for chunk in images.split(_CHUNK):
        pixels = chunk.to(torch.float64).div_(255).transpose(0, 1).reshape(3, -1)
        total += pixels.sum(dim=1)
        squares += pixels.square().sum(dim=1)
    count = images.numel() / 3
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def decoded_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image file ``path``, decoded in full once: a corrupt or truncated file is
    a :class:`DataError` naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.size
    except (OSError, SyntaxError, ValueError) as error:  # what PIL raises for a corrupt or truncated file
        raise DataError(f"unreadable image {path}: {error}") from None

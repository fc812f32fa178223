"""The ``generated`` source: a procedurally drawn, seeded shape-classification task.

Each class is one shape type. An image draws its shape in a random bright colour with a random size,
aspect, rotation (within +-30 degrees) and position near the centre, over a dark tinted gradient
cluttered with soft blobs and line strokes (a few strokes also cross over the shape), then adds
Gaussian pixel noise. The shape is always brighter than the background and its pose varies within
bounds: with random hues both ways and free rotation, tiny ViTs trained for a few epochs stayed near
chance (measured). The radius range (``shape_size``, ``data.shape_size``) sets the difficulty: at
the default 0.12 to 0.22 of the side, the embedded ground truth's topologies reach about 33% on 10
classes in 10 epochs and lie well apart from each other; at 0.22 to 0.38 they all reached about 67%,
barely further apart than two training seeds of one topology (docs/design.md section 12). Shapes
are signed distance-like fields, so their edges are antialiased; everything is vectorised over
chunks of images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ..config import shape_size_problem
from .errors import DataError
from .sampling import generator

ShapeField = Callable[[Tensor, Tensor], Tensor]
"""(u, v) in the shape's unit frame -> roughly the distance to the outline: positive inside, negative outside."""

_CHUNK = 256  # images rendered at once
SHAPE_SIZE = (0.12, 0.22)  # default range of the shape radius, as a fraction of the image side
_LOG_ASPECT = 0.25  # shapes are stretched by up to exp(+-_LOG_ASPECT) along their own axis
_ROTATION = math.pi / 6  # shapes turn by up to this angle either way
_SHIFT = 0.15  # the shape centre moves up to this fraction of the side from the image centre
_BLOBS = 2  # at most this many soft blobs behind the shape
_BACK_STROKES = 3  # at most this many line strokes behind the shape
_FRONT_STROKES = 1  # at most this many thin line strokes over the shape
_NOISE_STD = (0.02, 0.05)  # per-image Gaussian pixel noise, in [0, 1] pixel units
_BACKGROUND = (0.0, 0.35)  # range of each background channel's base value
_SHAPE = (0.6, 1.0)  # range of each shape colour channel


def _box(u: Tensor, v: Tensor, half_u: float, half_v: float, at_u: float = 0.0, at_v: float = 0.0) -> Tensor:
    """An axis-aligned rectangle centred at (at_u, at_v)."""
    return torch.minimum(half_u - (u - at_u).abs(), half_v - (v - at_v).abs())


def _convex(u: Tensor, v: Tensor, normals_deg: tuple[float, ...], inradius: float) -> Tensor:
    """The intersection of half-planes at distance ``inradius`` from the centre along ``normals_deg``."""
    angles = torch.tensor(normals_deg).deg2rad()
    reach = u.unsqueeze(-1) * angles.cos() + v.unsqueeze(-1) * angles.sin()
    return inradius - reach.amax(dim=-1)


def _circle(u: Tensor, v: Tensor) -> Tensor:
    return 1 - torch.hypot(u, v)


def _square(u: Tensor, v: Tensor) -> Tensor:
    return _box(u, v, 0.75, 0.75)


def _triangle(u: Tensor, v: Tensor) -> Tensor:
    return _convex(u, v, (-90.0, 30.0, 150.0), 0.5)


def _cross(u: Tensor, v: Tensor) -> Tensor:
    return torch.maximum(_box(u, v, 0.25, 0.9), _box(u, v, 0.9, 0.25))


def _ring(u: Tensor, v: Tensor) -> Tensor:
    radius = torch.hypot(u, v)
    return torch.minimum(radius - 0.55, 1 - radius)


def _star(u: Tensor, v: Tensor) -> Tensor:
    """A five-pointed star: the outline radius falls linearly from 1 at a tip to 0.4 between tips."""
    turn = (torch.atan2(v, u) * (5 / (2 * math.pi))) % 1
    outline = 0.4 + 0.6 * (2 * turn - 1).abs()
    return 0.5 * (outline - torch.hypot(u, v))


def _bar(u: Tensor, v: Tensor) -> Tensor:
    return _box(u, v, 1.0, 0.2)


def _ellipse(u: Tensor, v: Tensor) -> Tensor:
    return 0.55 * (1 - torch.hypot(u, v / 0.55))


def _l_shape(u: Tensor, v: Tensor) -> Tensor:
    return torch.maximum(_box(u, v, 0.22, 0.8, at_u=-0.58), _box(u, v, 0.8, 0.22, at_v=-0.58))


def _diamond(u: Tensor, v: Tensor) -> Tensor:
    """A rhombus with half-diagonals 0.55 and 1 (elongated, so no rotation of the square)."""
    return (1 - u.abs() / 0.55 - v.abs()) * (0.55 / math.hypot(1.0, 0.55))


def _hexagon(u: Tensor, v: Tensor) -> Tensor:
    return _convex(u, v, (0.0, 60.0, 120.0, 180.0, 240.0, 300.0), 0.85)


def _crescent(u: Tensor, v: Tensor) -> Tensor:
    return torch.minimum(1 - torch.hypot(u, v), torch.hypot(u - 0.45, v) - 0.75)


SHAPES: dict[str, ShapeField] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "cross": _cross,
    "ring": _ring,
    "star": _star,
    "bar": _bar,
    "ellipse": _ellipse,
    "l_shape": _l_shape,
    "diamond": _diamond,
    "hexagon": _hexagon,
    "crescent": _crescent,
}
"""The shape classes in label order; a task with k classes uses the first k."""


def shape_names(num_classes: int) -> list[str]:
    """The class names of a generated task with ``num_classes`` classes."""
    if not 2 <= num_classes <= len(SHAPES):
        raise DataError(f"data.num_classes={num_classes}: the generated source has 2 to {len(SHAPES)} classes")
    return list(SHAPES)[:num_classes]


def uniform(gen: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> Tensor:
    """A tensor of ``shape`` drawn uniformly from [low, high) with ``gen``."""
    return torch.rand(shape, generator=gen) * (high - low) + low


def pixel_grid(size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates in [0, 1]: x of shape (1, 1, size) and y of shape (1, size, 1)."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return coords.view(1, 1, size), coords.view(1, size, 1)


def per_image(values: Tensor) -> Tensor:
    """Per-image values (n,) shaped (n, 1, 1) to broadcast over a (n, size, size) plane."""
    return values.view(-1, 1, 1)


def composite(canvas: Tensor, colour: Tensor, alpha: Tensor) -> None:
    """Composite a flat ``colour`` (n, 3) with coverage ``alpha`` (n, size, size) over ``canvas`` in place."""
    alpha = alpha.unsqueeze(1)
    canvas.mul_(1 - alpha).add_(colour[:, :, None, None] * alpha)


def background(count: int, size: int, gen: torch.Generator) -> Tensor:
    """(count, 3, size, size) dark linear gradients around a random base colour along a random direction."""
    base = uniform(gen, (count, 3), *_BACKGROUND)
    tilt = uniform(gen, (count, 3), -0.15, 0.15)
    angle = uniform(gen, (count,), 0.0, 2 * math.pi)
    x, y = pixel_grid(size)
    along = (x - 0.5) * per_image(angle.cos()) + (y - 0.5) * per_image(angle.sin())
    return (base[:, :, None, None] + tilt[:, :, None, None] * along.unsqueeze(1)).clamp_(0, 1)


def draw_blobs(canvas: Tensor, most: int, gen: torch.Generator) -> None:
    """Composite up to ``most`` soft Gaussian blobs of random colour, size and opacity per image."""
    count, size = canvas.shape[0], canvas.shape[-1]
    present = torch.randint(0, most + 1, (count,), generator=gen)
    x, y = pixel_grid(size)
    for layer in range(most):
        centre = torch.rand(count, 2, generator=gen)
        width = uniform(gen, (count,), 0.03, 0.12)
        opacity = uniform(gen, (count,), 0.3, 0.9) * (layer < present)
        spread = (x - per_image(centre[:, 0])).square() + (y - per_image(centre[:, 1])).square()
        alpha = per_image(opacity) * torch.exp(-spread / per_image(2 * width**2))
        composite(canvas, torch.rand(count, 3, generator=gen), alpha)


def _segment_coverage(start: Tensor, end: Tensor, half_width: Tensor, size: int) -> Tensor:
    """Antialiased (n, size, size) coverage of one line segment per image from ``start`` to ``end`` (n, 2)."""
    x, y = pixel_grid(size)
    dx, dy = per_image(end[:, 0] - start[:, 0]), per_image(end[:, 1] - start[:, 1])
    rel_x, rel_y = x - per_image(start[:, 0]), y - per_image(start[:, 1])
    along = ((rel_x * dx + rel_y * dy) / (dx.square() + dy.square()).clamp_min(1e-8)).clamp(0, 1)
    distance = torch.hypot(rel_x - along * dx, rel_y - along * dy)
    return ((per_image(half_width) - distance) * size + 0.5).clamp_(0, 1)


def draw_strokes(canvas: Tensor, most: int, half_width: tuple[float, float], gen: torch.Generator) -> None:
    """Composite up to ``most`` straight strokes of random colour, length and direction per image."""
    count, size = canvas.shape[0], canvas.shape[-1]
    present = torch.randint(0, most + 1, (count,), generator=gen)
    for layer in range(most):
        start = torch.rand(count, 2, generator=gen)
        angle = uniform(gen, (count,), 0.0, 2 * math.pi)
        length = uniform(gen, (count,), 0.15, 0.6)
        end = start + length.unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], dim=1)
        width = uniform(gen, (count,), *half_width)
        coverage = _segment_coverage(start, end, width, size) * per_image((layer < present).float())
        composite(canvas, torch.rand(count, 3, generator=gen), coverage)


def _shape_frame(count: int, size: int, shape_size: tuple[float, float],
                 gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Random placements: each pixel's (u, v) in its image's shape frame, and the shape radius (n,),
    drawn from ``shape_size`` (fractions of the side)."""
    radius = uniform(gen, (count,), *shape_size)
    stretch = uniform(gen, (count,), -_LOG_ASPECT, _LOG_ASPECT).exp().sqrt()
    angle = uniform(gen, (count,), -_ROTATION, _ROTATION)
    centre = 0.5 + uniform(gen, (count, 2), -_SHIFT, _SHIFT)
    x, y = pixel_grid(size)
    dx, dy = x - per_image(centre[:, 0]), y - per_image(centre[:, 1])
    cos, sin = per_image(angle.cos()), per_image(angle.sin())
    u = (dx * cos + dy * sin) / per_image(radius * stretch)
    v = (dy * cos - dx * sin) / per_image(radius / stretch)
    return u, v, radius


def _draw_shapes(canvas: Tensor, labels: Tensor, names: list[str], shape_size: tuple[float, float],
                 gen: torch.Generator) -> None:
    """Composite each image's class shape ``names[label]`` at a random placement in a bright colour."""
    size = canvas.shape[-1]
    u, v, radius = _shape_frame(canvas.shape[0], size, shape_size, gen)
    field = torch.empty_like(u)
    for label, name in enumerate(names):
        chosen = labels == label
        field[chosen] = SHAPES[name](u[chosen], v[chosen])
    coverage = (field * per_image(radius) * size + 0.5).clamp_(0, 1)
    composite(canvas, uniform(gen, (canvas.shape[0], 3), *_SHAPE), coverage)


def _render(labels: Tensor, names: list[str], size: int, shape_size: tuple[float, float],
            gen: torch.Generator) -> Tensor:
    """uint8 (n, 3, size, size) images of the given labels."""
    canvas = background(len(labels), size, gen)
    draw_blobs(canvas, _BLOBS, gen)
    draw_strokes(canvas, _BACK_STROKES, (0.008, 0.03), gen)
    _draw_shapes(canvas, labels, names, shape_size, gen)
    draw_strokes(canvas, _FRONT_STROKES, (0.005, 0.015), gen)
    noise_std = uniform(gen, (len(labels), 1, 1, 1), *_NOISE_STD)
    canvas.add_(torch.randn(canvas.shape, generator=gen) * noise_std)
    return canvas.clamp_(0, 1).mul_(255).round_().to(torch.uint8)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread meanwhile: rendering is many small element-wise operations, which
    two threads barely speed up, but slow down ten-fold when other processes busy the cores (measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def generate_shapes(count: int, num_classes: int, image_size: int, seed: int,
                    shape_size: tuple[float, float] = SHAPE_SIZE) -> tuple[Tensor, Tensor]:
    """``count`` images (uint8, (count, 3, image_size, image_size)) and their int64 labels, with classes
    balanced to within one image, all determined by ``seed``; each shape's radius is drawn uniformly
    from ``shape_size`` (fractions of the side: smaller shapes make a harder task)."""
    problem = shape_size_problem(shape_size)
    if problem:
        raise DataError(f"data.shape_size={list(shape_size)}: {problem}")
    names = shape_names(num_classes)
    gen = generator(seed)
    labels = (torch.arange(count) % num_classes)[torch.randperm(count, generator=gen)]
    with one_thread():
        images = [_render(chunk, names, image_size, shape_size, gen) for chunk in labels.split(_CHUNK)]
    return torch.cat(images), labels

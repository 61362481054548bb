"""Plane geometry on the pixel grid, batched in torch: distances to segments, polygons and polylines, and
anti-aliased coverage. Landmark regions, MaskFer masks and the synthetic renderer all draw with these.

Coordinates are (x, y) in pixels with pixel centres at integers, so a 48-pixel image spans -0.5 ... 47.5.
"""
from __future__ import annotations

import torch

from .images import IMAGE_SIZE


def pixel_grid(size: int = IMAGE_SIZE, device=None) -> torch.Tensor:
    """(size*size, 2) pixel centres (x, y), row-major like ``image.reshape(-1)``."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32, device=device),
                            torch.arange(size, dtype=torch.float32, device=device), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)


def segment_distance(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from points to segments a->b.

    Args:
        points: (P, 2) shared by every item, or (N, P, 2).
        a, b: (N, K, 2) segment ends.

    Returns:
        (N, P, K) distances.
    """
    if points.dim() == 2:
        points = points[None]
    gx, gy = points[..., 0, None], points[..., 1, None]
    ax, ay = a[:, None, :, 0], a[:, None, :, 1]
    abx, aby = b[:, None, :, 0] - ax, b[:, None, :, 1] - ay
    apx, apy = gx - ax, gy - ay
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp_min(1e-9)).clamp(0, 1)
    dx, dy = apx - t * abx, apy - t * aby
    return (dx * dx + dy * dy).sqrt()


def polygon_sdf(polygons: torch.Tensor, points: torch.Tensor, chunk_elements: int = 4_000_000) -> torch.Tensor:
    """Signed distance (positive inside) from points to closed polygons.

    Items are processed in chunks so the (items x points x edges) intermediates stay in cache.

    Args:
        polygons: (N, K, 2) vertices.
        points: (P, 2) or (N, P, 2).
        chunk_elements: bound on the size of one chunk's intermediates.

    Returns:
        (N, P) signed distances in pixels.
    """
    n, p, k = polygons.shape[0], points.shape[-2], polygons.shape[1]
    step = max(1, chunk_elements // max(1, p * k))
    if n > step:
        return torch.cat([polygon_sdf(polygons[i:i + step], points if points.dim() == 2 else points[i:i + step])
                          for i in range(0, n, step)])
    if points.dim() == 2:
        points = points[None]
    a, b = polygons, polygons.roll(-1, dims=1)
    dist = segment_distance(points, a, b).amin(-1)
    px, py = points[..., 0, None], points[..., 1, None]
    ax, ay, bx, by = a[:, None, :, 0], a[:, None, :, 1], b[:, None, :, 0], b[:, None, :, 1]
    crosses = (ay > py) != (by > py)
    x_at = ax + (py - ay) * (bx - ax) / torch.where(by == ay, torch.full_like(by, 1e-9), by - ay)
    inside = ((crosses & (px < x_at)).sum(-1) % 2) == 1
    return torch.where(inside, dist, -dist)


def polyline_distance(polylines: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Distance from points (P, 2) or (N, P, 2) to open polylines (N, K, 2): (N, P)."""
    return segment_distance(points, polylines[:, :-1], polylines[:, 1:]).amin(-1)


def coverage(signed: torch.Tensor) -> torch.Tensor:
    """Anti-aliased pixel coverage from a signed distance in pixels (positive inside)."""
    return (signed + 0.5).clamp(0, 1)


def rasterise(shapes: torch.Tensor, signed_fn, reach: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Coverage of small shapes, evaluated only in a window around each item's shape: (N, size*size).

    Eyes, brows, nose and mouth cover a few percent of the image; computing their distances over the whole
    grid would cost 10-20x more.

    Args:
        shapes: (N, K, 2) the points that define each item's shape.
        signed_fn: ``f(shapes, points (N, P, 2)) -> (N, P)`` signed distance, positive inside.
        reach: (N,) how far outside its points each shape extends.
        size: image side.

    Returns:
        (N, size*size) coverage in [0, 1].
    """
    n = len(shapes)
    lo = shapes.amin(1) - reach[:, None] - 1.0
    hi = shapes.amax(1) + reach[:, None] + 1.0
    ext = ((hi - lo).amax(0).ceil() + 1).clamp(max=size).long()
    origin = lo.floor()
    ys, xs = torch.meshgrid(torch.arange(int(ext[1]), dtype=torch.float32, device=shapes.device),
                            torch.arange(int(ext[0]), dtype=torch.float32, device=shapes.device), indexing="ij")
    grid = origin[:, None] + torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)[None]
    cov = coverage(signed_fn(shapes, grid))
    ix, iy = grid[..., 0].long(), grid[..., 1].long()
    valid = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    index = torch.where(valid, iy * size + ix, torch.full_like(ix, size * size))
    out = torch.zeros(n, size * size + 1, device=shapes.device)
    out.scatter_(1, index, torch.where(valid, cov, torch.zeros_like(cov)))
    return out[:, :-1]

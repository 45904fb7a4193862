"""Exact and perceptual duplicates among images (shared by the scraper and the statistics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def phash_to_uint64(hashes: Sequence[str]) -> np.ndarray:
    """16-hex-digit perceptual hashes (``str(imagehash.phash(img))``) as uint64."""
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)


def near_duplicate_pairs(hashes: Sequence[str], max_distance: int, block: int = 1024) -> list[tuple[int, int, int]]:
    """Pairs ``(i, j, distance)``, i < j, whose 64-bit hashes differ in at most ``max_distance`` bits.

    Brute force, vectorised in blocks of rows (``numpy.bitwise_count`` is a hardware popcount): 15,300
    hashes are 117 million pairs and take about a second; a BK-tree would win only for far larger sets.
    """
    values = phash_to_uint64(hashes)
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, len(values), block):
        rows = values[start:start + block]
        distances = np.bitwise_count(rows[:, None] ^ values[None, :])
        ii, jj = np.nonzero(distances <= max_distance)
        keep = jj > ii + start
        for i, j in zip(ii[keep], jj[keep]):
            pairs.append((int(i + start), int(j), int(distances[i, j])))
    return pairs

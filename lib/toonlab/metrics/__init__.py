"""The evaluation suite every chapter uses, so numbers across chapters are comparable.

One concept per module; models are passed in (dependency injection), so tests use tiny ones:

- :mod:`~toonlab.metrics.fid` — FID / KID (and FD-toon, random-feature FD) with cached reference statistics
- :mod:`~toonlab.metrics.extractors` — which network made the features, and what its distance may be called
- :mod:`~toonlab.metrics.clip_score` — CLIP-T / CLIP-I with open_clip; the PopYou name-list protocol
- :mod:`~toonlab.metrics.dreambooth` — CLIP-I, CLIP-T and DINO as in the DreamBooth paper
- :mod:`~toonlab.metrics.perceptual` — LPIPS, DISTS, SSIM, MS-SSIM, PSNR through piq
- :mod:`~toonlab.metrics.perceptual_toon` — DISTS-toon / LPIPS-toon (offline profiles) and the builder by profile
- :mod:`~toonlab.metrics.stage_distances` — the DISTS and LPIPS formulas over any stage backbone
- :mod:`~toonlab.metrics.clustering` — Hungarian accuracy, NMI, ARI, purity
- :mod:`~toonlab.metrics.cost` — images/s, latency, peak memory, parameter counts
- :mod:`~toonlab.metrics.toon_features` — the book's small offline classifier: FD-toon, attribute accuracy
- :mod:`~toonlab.metrics.edges` — edge precision/recall/F1 with a pixel tolerance (structure kept)
- :mod:`~toonlab.metrics.face_identity` — dlib face descriptor distance and detection rate (optional dlib)
- :mod:`~toonlab.metrics.memoji_eval` — chapter 07's table: identity, edge F1, style CLIP-I, CLIP-T
- :mod:`~toonlab.metrics.shape3d` — the fixed 3-D protocol: unit cube, Chamfer (mean NN distance), F@0.1/0.2, volume IoU, CLIP of renders
- :mod:`~toonlab.metrics.checks` — the input checks behind every metric (:class:`MetricInputError`)

Importing this package imports nothing heavy; import the submodule you need.
"""

from toonlab.metrics.checks import MetricInputError

__all__ = ["MetricInputError"]

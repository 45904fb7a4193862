"""Layer 3: latent editing — edit directions in StyleGAN2's W / W+ and the strength of an edit (chapter 06).

No training loop and no file I/O here: training lives in :mod:`toonlab.train.editing_tasks`, the metrics
in :mod:`toonlab.metrics.editing`.

* :mod:`~toonlab.editing.directions` — the edit ``w + c * dW`` and four ways to find dW: CelebrityLook's
  text delta through the CSLA mapper, InterFaceGAN (linear SVM normal), GANSpace (PCA, named by the
  attribute each component moves), StyleCLIP latent optimisation with a CLIP loss;
* :mod:`~toonlab.editing.optimal_c` — per-latent strength: CelebrityLook's promised, never-released
  optimal-c projection layer and its loss, and a per-image line search on the same objective.
"""

from toonlab.editing.directions import (C_MAX, EditInputError, apply_edit, check_prompt, check_strength,
                                        clip_optimisation, ganspace_directions, interfacegan_direction, text_delta)
from toonlab.editing.optimal_c import (TARGET_SIMILARITY, OptimalCConfig, OptimalCLayer, line_search,
                                       optimal_c_loss)

__all__ = ["C_MAX", "EditInputError", "OptimalCConfig", "OptimalCLayer", "TARGET_SIMILARITY", "apply_edit",
           "check_prompt", "check_strength", "clip_optimisation", "ganspace_directions", "interfacegan_direction",
           "line_search", "optimal_c_loss", "text_delta"]

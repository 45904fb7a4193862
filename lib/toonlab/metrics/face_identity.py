"""Identity kept from a photo to its memoji: the dlib face descriptor distance, and the detection rate.

dlib's ResNet face descriptor (128-d, trained on ~3M faces; the model behind the ``face_recognition``
package, 99.38% on LFW) maps two photos of one person within Euclidean distance 0.6 of each other. We use
it as ``face_recognition`` does — HOG frontal-face detector (one upsampling), the 68-point landmark model
to align, one jitter — but call dlib directly, so only two wheels are needed:

    pip install dlib-bin face-recognition-models     # dlib compiled, and the three model files

Stylised faces are often not detected at all (the HOG detector was trained on photos), so every report
gives the *detection rate* on the photos and on the memoji, and the distance only over pairs where both
faces were found. A photo with no face is not an error: its row says "no face" and the run goes on.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from toonlab.metrics.checks import MetricInputError

INSTALL = "pip install dlib-bin face-recognition-models"
MODEL_FILES = ("shape_predictor_68_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
SAME_PERSON_THRESHOLD = 0.6  # face_recognition's default tolerance on this descriptor


class FaceIdentityUnavailable(ImportError):
    """dlib or its model files are not installed."""


@dataclass(frozen=True)
class FaceModels:
    detector: Any
    landmarks: Any
    descriptor: Any
    description: str


@lru_cache(maxsize=1)
def load_face_models() -> FaceModels:
    """dlib's HOG detector, 68-point landmarks and ResNet descriptor; a clear error when not installed."""
    try:
        import dlib
    except ImportError as error:
        raise FaceIdentityUnavailable(
            f"the identity metric needs dlib ({error}); install the optional dependency: {INSTALL} "
            "(or `pip install -e .[faces]`). The rest of the chapter runs without it.") from None
    folder = model_folder()
    return FaceModels(dlib.get_frontal_face_detector(),
                      dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat")),
                      dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")),
                      f"dlib {dlib.__version__} HOG detector + 68 landmarks + ResNet face descriptor")


def model_folder() -> Path:
    """Where face-recognition-models put dlib's model files. Found without importing the package: its
    ``__init__`` imports ``pkg_resources``, which recent setuptools no longer ship."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceIdentityUnavailable(f"the identity metric needs dlib's model files; {INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise FaceIdentityUnavailable(f"face-recognition-models at {folder} lacks {missing}; reinstall it: {INSTALL}")
    return folder


def available() -> tuple[bool, str]:
    """(True, description) when the metric can run, else (False, the install instruction)."""
    try:
        return True, load_face_models().description
    except FaceIdentityUnavailable as error:
        return False, str(error)


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    image = np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise MetricInputError(f"face descriptors need an 8-bit RGB image (H, W, 3), got {image.shape} {image.dtype}")
    return image


def face_descriptor(image: Image.Image | np.ndarray, models: FaceModels | None = None,
                    upsample: int = 1) -> np.ndarray | None:
    """The 128-d descriptor of the largest face in ``image``, or ``None`` when no face is detected."""
    models = models or load_face_models()
    array = _rgb_array(image)
    faces = list(models.detector(array, upsample))
    if not faces:
        return None
    face = max(faces, key=lambda rect: rect.area())
    shape = models.landmarks(array, face)
    return np.asarray(models.descriptor.compute_face_descriptor(array, shape, 1), dtype=np.float64)


@dataclass(frozen=True)
class IdentityScore:
    distance_mean: float | None  # over pairs with a face on both sides; None when there is none
    pairs_scored: int
    photo_detection_rate: float
    output_detection_rate: float
    same_person_rate: float | None  # share of scored pairs under the 0.6 threshold
    per_pair: list[float | None]


def identity_scores(photos: list[Any], outputs: list[Any], models: FaceModels | None = None) -> IdentityScore:
    """Descriptor distance photo i -> output i where both faces are found, with both detection rates."""
    if len(photos) != len(outputs) or not photos:
        raise MetricInputError(f"need the same non-zero number of photos and outputs, got {len(photos)} and "
                               f"{len(outputs)}")
    models = models or load_face_models()
    per_pair: list[float | None] = []
    found_photo = found_output = 0
    for photo, output in zip(photos, outputs):
        a, b = face_descriptor(photo, models), face_descriptor(output, models)
        found_photo += a is not None
        found_output += b is not None
        per_pair.append(None if a is None or b is None else float(np.linalg.norm(a - b)))
    scored = [d for d in per_pair if d is not None]
    n = len(photos)
    return IdentityScore(float(np.mean(scored)) if scored else None, len(scored), found_photo / n, found_output / n,
                         float(np.mean([d < SAME_PERSON_THRESHOLD for d in scored])) if scored else None, per_pair)


__all__ = ["FaceIdentityUnavailable", "FaceModels", "INSTALL", "IdentityScore", "SAME_PERSON_THRESHOLD",
           "available", "face_descriptor", "identity_scores", "load_face_models"]

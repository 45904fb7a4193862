"""Zero-shot face attributes from a CLIP model: the gender / expression / glasses words of MyMemoji's prompt.

MyMemoji's web UI asked the user to pick gender and expression for their photo; the issue asks for them to
come from the photo. We classify zero-shot with the book's ``clip`` role (CLIP's zero-shot face-attribute
probes, Radford et al. 2021 §7.1): each option is a sentence, the image goes to the option whose sentence
embedding is closest. In ``full`` that is OpenCLIP ViT-L-14; offline it is ToonCLIP (trained on cartoon
avatars, so on photos it is a weak stand-in) or, in ``ci``, a tiny random CLIP — every table says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

# attribute -> {prompt word (what goes into the memoji prompt): the sentence CLIP compares the photo with}
ATTRIBUTE_PROMPTS: dict[str, dict[str, str]] = {
    "gender": {"male": "a photo of a man", "female": "a photo of a woman"},
    "expression": {
        "smiling": "a photo of a smiling person",
        "crying": "a photo of a crying person",
        "Neutral": "a photo of a person with a neutral expression",
        "Angry": "a photo of an angry person",
        "Laughing": "a photo of a laughing person",
        "Sad face": "a photo of a person with a sad face",
    },
    "glasses": {"glasses": "a photo of a person wearing glasses", "": "a photo of a person without glasses"},
}


@dataclass(frozen=True)
class FaceAttributes:
    gender: str
    expression: str
    glasses: bool
    scores: Mapping[str, Mapping[str, float]]  # attribute -> option -> softmax probability

    def as_dict(self) -> dict[str, Any]:
        return {"gender": self.gender, "expression": self.expression, "glasses": self.glasses}


@torch.inference_mode()
def classify_attributes(clip: Any, images: Sequence[Image.Image],
                        prompts: Mapping[str, Mapping[str, str]] = ATTRIBUTE_PROMPTS) -> list[FaceAttributes]:
    """Zero-shot gender, expression and glasses for each image with a :class:`~toonlab.zoo.clip.ClipBundle`."""
    if not images:
        raise ValueError("no images to classify")
    device = next(clip.model.parameters()).device
    batch = torch.stack([clip.preprocess(image.convert("RGB")) for image in images]).to(device)
    image_emb = torch.nn.functional.normalize(clip.model.encode_image(batch).float(), dim=-1)
    logit_scale = float(clip.model.logit_scale.exp()) if hasattr(clip.model, "logit_scale") else 100.0
    per_attribute: dict[str, tuple[list[str], torch.Tensor]] = {}
    for attribute, options in prompts.items():
        tokens = clip.tokenizer(list(options.values())).to(device)
        text_emb = torch.nn.functional.normalize(clip.model.encode_text(tokens).float(), dim=-1)
        per_attribute[attribute] = (list(options), (logit_scale * image_emb @ text_emb.T).softmax(dim=-1).cpu())
    results = []
    for i in range(len(images)):
        chosen, scores = {}, {}
        for attribute, (names, probs) in per_attribute.items():
            chosen[attribute] = names[int(probs[i].argmax())]
            scores[attribute] = {name: float(p) for name, p in zip(names, probs[i])}
        results.append(FaceAttributes(chosen["gender"], chosen["expression"], chosen["glasses"] == "glasses", scores))
    return results


__all__ = ["ATTRIBUTE_PROMPTS", "FaceAttributes", "classify_attributes"]

"""ToonCLIP on held-out data: zero-shot attribute classification and image<->text retrieval.

- **Zero-shot** per attribute head: each class is the one-fact caption of :func:`toonlab.data.captions.prompts`
  (e.g. "a cartoon avatar with glasses" / "… with no glasses") in every template, averaged (CLIP's
  prompt ensembling); an image gets the class whose prompt embedding is nearest. Shown beside chance
  (the majority class among the evaluated images, and 1/classes) and beside the supervised toon
  classifier (:mod:`toonlab.metrics.toon_features`) on the same images. Heads less than ``margin`` above
  the majority class are flagged not usable, as the classifier's own table does. Classes are scored **by
  phrase**: values whose prompts are identical (python-avatars' SUNGLASSES and SUNGLASSES_2 both read
  "sunglasses") are one class — no text model could tell them apart — for ToonCLIP and for the toon
  classifier's comparison column alike (its prediction counts as right when it names a value with the
  true value's phrase).
- **Retrieval** on held-out pairs (avatar, its full caption): image->text and text->image R@1 / R@5. Two
  avatars can share a full caption (they differ only in parts no caption names), so a hit is a retrieved
  item with the *same caption text*, not only the same index.

The tables read the committed record (``data/weights/toonclip.json``), so a book page needs no model run;
:func:`retrieval_examples_figure` draws a few queries with the committed model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from toonlab.data.captions import avatar_caption, avatar_facts, fact_value, prompts
from toonlab.features.toonclip import normalize_images

# head name -> (fact slot, values left out of the head: not applicable to that image)
ZERO_SHOT_HEADS: dict[str, tuple[str, tuple[str, ...]]] = {
    "glasses (with / without)": ("glasses_kind", ("eyepatch",)),
    "hair length (long / short / hat / bald)": ("hair_length", ()),
    "facial hair (beard / moustache / none)": ("facial_hair_kind", ()),
    "skin": ("skin", ()),
    "hair colour": ("hair_color", ("HIDDEN",)),
    "clothing": ("clothing", ()),
    "clothing colour": ("clothing_color", ("FIXED",)),
    "mouth": ("mouth", ()),
    "eyes": ("eyes", ()),
    "glasses style": ("glasses", ()),
}
# the toon classifier's head for each slot; its class (a python-avatars name) maps onto the slot's value
# with captions.fact_value, i.e. onto its phrase ("SUNGLASSES_2" -> "sunglasses"), as the facts are keyed
CLASSIFIER_HEADS: dict[str, str] = {
    "glasses_kind": "glasses", "hair_length": "hair", "facial_hair_kind": "facial_hair", "skin": "skin",
    "hair_color": "hair_color", "clothing": "clothing", "clothing_color": "clothing_color", "mouth": "mouth",
    "eyes": "eyes", "glasses": "glasses",
}


def classifier_value(slot: str, predicted: str) -> str:
    """The slot value (phrase or group) of a toon-classifier prediction for ``slot``'s head."""
    return fact_value(slot, predicted)


@torch.inference_mode()
def encode_images(model: Any, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Unit image embeddings of uint8 or [0, 1] images already at the model's resolution."""
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        batch = batch.float().div(255.0) if batch.dtype == torch.uint8 else batch.float()
        chunks.append(torch.nn.functional.normalize(model.encode_image(normalize_images(batch)).float(), dim=-1))
    return torch.cat(chunks)


@torch.inference_mode()
def encode_texts(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 512) -> torch.Tensor:
    chunks = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenizer(list(texts[start:start + batch_size]))
        chunks.append(torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1))
    return torch.cat(chunks)


def prompt_classes(slot: str, values: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """value -> its class: the tuple of its prompts. Values with identical prompts share a class."""
    return {value: tuple(prompts(slot, value)) for value in values}


def zero_shot(model: Any, tokenizer: Any, image_features: torch.Tensor, facts: Sequence[Mapping[str, str]],
              slot: str, excluded: Sequence[str] = ()) -> dict[str, Any]:
    """Zero-shot accuracy of one head over the images it applies to; classes = the distinct prompt sets of
    the values seen there (values with identical prompts merged, see the module docstring)."""
    keep = [i for i, f in enumerate(facts) if f[slot] not in excluded]
    if not keep:
        raise ValueError(f"no held-out image has a {slot!r} the head applies to")
    of_value = prompt_classes(slot, sorted({facts[i][slot] for i in keep}))
    truth = [of_value[facts[i][slot]] for i in keep]
    classes = sorted(set(truth))
    class_embeddings = torch.stack([
        torch.nn.functional.normalize(encode_texts(model, tokenizer, list(texts)).mean(0), dim=0)
        for texts in classes])
    predicted = (image_features[keep] @ class_embeddings.T).argmax(1).tolist()
    accuracy = sum(classes[p] == t for p, t in zip(predicted, truth)) / len(truth)
    majority = max(truth.count(c) for c in classes) / len(truth)
    return {"slot": slot, "accuracy": round(accuracy, 4), "chance (majority class)": round(majority, 4),
            "chance (uniform)": round(1 / len(classes), 4), "classes": len(classes), "images": len(truth),
            "indices": keep, "predicted": [classes[p] for p in predicted], "truth": truth}


def classifier_accuracy(slot: str, predicted: Sequence[str], truth: Sequence[str]) -> float:
    """The toon classifier's accuracy on one zero-shot head, scored by phrase like ToonCLIP's: its
    prediction (a python-avatars name) is right when its prompts are the true value's prompts."""
    of_value = prompt_classes(slot, sorted({classifier_value(slot, p) for p in predicted} | set(truth)))
    hits = sum(of_value[classifier_value(slot, p)] == of_value[t] for p, t in zip(predicted, truth))
    return hits / len(truth)


def retrieval(image_features: torch.Tensor, text_features: torch.Tensor, captions: Sequence[str],
              ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Image->text and text->image recall@k for paired rows (a hit: a retrieved item with the same caption)."""
    if len(image_features) != len(text_features) or len(captions) != len(image_features):
        raise ValueError(f"{len(image_features)} images, {len(text_features)} texts, {len(captions)} captions: pair them")
    ids = {text: i for i, text in enumerate(dict.fromkeys(captions))}
    caption_ids = torch.tensor([ids[c] for c in captions])
    similarity = image_features @ text_features.T
    result: dict[str, float] = {}
    for name, scores in (("image->text", similarity), ("text->image", similarity.T)):
        ranked = scores.topk(max(ks), dim=1).indices
        hits = caption_ids[ranked] == caption_ids[:, None]
        for k in ks:
            result[f"{name} R@{k}"] = round(float(hits[:, :k].any(1).float().mean()), 4)
    n = len(captions)
    for k in ks:
        result[f"chance R@{k}"] = round(k / n, 4)
    result["pairs"] = n
    result["distinct captions"] = len(ids)
    return result


def evaluate_heldout(loaded: Any, heldout_avatars: Any, heldout_emoji: Sequence[tuple[torch.Tensor, str]],
                     seed: int, progress: bool = False, margin: float = 0.1) -> dict[str, Any]:
    """Every held-out score of a ToonCLIP (what the record stores): zero-shot heads, retrieval, summary."""
    from toonlab.metrics.toon_features import load_toon_features, predict

    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    images = torch.stack([heldout_avatars.uint8(i) for i in range(len(heldout_avatars))])
    facts = [avatar_facts(a) for a in heldout_avatars.attributes]
    captions = [avatar_caption(a, seed, i, 0).text for i, a in enumerate(heldout_avatars.attributes)]
    image_features = encode_images(model, images)
    classifier = load_toon_features()
    classifier_predictions = predict(classifier, images.float() / 255.0, heads=sorted(
        set(CLASSIFIER_HEADS.values())))
    heads = {}
    for name, (slot, excluded) in ZERO_SHOT_HEADS.items():
        entry = zero_shot(model, tokenizer, image_features, facts, slot, excluded)
        supervised = [classifier_predictions[CLASSIFIER_HEADS[slot]][i] for i in entry["indices"]]
        truth = [facts[i][slot] for i in entry["indices"]]
        entry["toon classifier (supervised)"] = round(classifier_accuracy(slot, supervised, truth), 4)
        entry["usable"] = entry["accuracy"] - entry["chance (majority class)"] >= margin
        del entry["indices"], entry["predicted"], entry["truth"]
        heads[name] = entry
    text_features = encode_texts(model, tokenizer, captions)
    avatars = retrieval(image_features, text_features, captions)
    result: dict[str, Any] = {"zero_shot": heads, "retrieval": {"avatars": avatars}}
    if heldout_emoji:
        emoji_images = torch.stack([image for image, _ in heldout_emoji])
        emoji_captions = [text for _, text in heldout_emoji]
        result["retrieval"]["emoji"] = retrieval(encode_images(model, emoji_images),
                                                 encode_texts(model, tokenizer, emoji_captions), emoji_captions)
    result["summary"] = {"retrieval R@1 image->text": avatars["image->text R@1"],
                         "retrieval R@1 text->image": avatars["text->image R@1"], "chance R@1": avatars["chance R@1"],
                         **{f"zero-shot {k}": v["accuracy"] for k, v in heads.items()}}
    result["margin"] = margin
    return result


# ---------------------------------------------------------------------------------------------------
# book tables and figure


def _record(record: Any = None) -> dict[str, Any]:
    import json
    from pathlib import Path

    from toonlab.paths import repo_root

    if isinstance(record, Mapping):
        return dict(record)
    path = Path(record) if record is not None else repo_root() / "data/weights/toonclip.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it ships with the repository (or rerun "
                                f"`python -m toonlab.metrics.train_toonclip`)")
    return json.loads(path.read_text())


def zero_shot_table(record: Any = None):
    """Held-out zero-shot accuracy per head beside chance and the supervised toon classifier (a DataFrame)."""
    import pandas as pd

    heads = _record(record)["heldout"]["zero_shot"]
    columns = ["accuracy", "chance (majority class)", "chance (uniform)", "toon classifier (supervised)", "classes",
               "images", "usable"]
    rows = [{"head": name, **{c: entry[c] for c in columns}} for name, entry in heads.items()]
    return pd.DataFrame(rows).rename(columns={"accuracy": "ToonCLIP zero-shot"})


def retrieval_table(record: Any = None):
    """Held-out image->text and text->image R@1 / R@5 beside chance, for avatars and emoji (a DataFrame)."""
    import pandas as pd

    rows = []
    for data_name, scores in _record(record)["heldout"]["retrieval"].items():
        for direction in ("image->text", "text->image"):
            rows.append({"pairs": f"{data_name} ({scores['pairs']} held out)", "direction": direction,
                         "R@1": scores[f"{direction} R@1"], "R@5": scores[f"{direction} R@5"],
                         "chance R@1": scores["chance R@1"], "chance R@5": scores["chance R@5"]})
    return pd.DataFrame(rows)


def retrieval_examples_figure(loaded: Any, images: torch.Tensor, captions: Sequence[str], queries: Sequence[int],
                              k: int = 5):
    """For each query caption (an index into ``captions``), the top-``k`` images; the true image framed green."""
    import matplotlib.pyplot as plt

    image_features = encode_images(loaded.model, images)
    text_features = encode_texts(loaded.model, loaded.tokenizer, [captions[q] for q in queries])
    ranked = (text_features @ image_features.T).topk(k, dim=1).indices.tolist()
    # no tight_layout: it would shrink the pictures to fit the long captions; each caption spans its row instead
    figure, axes = plt.subplots(len(queries), k, figsize=(1.5 * k, 1.95 * len(queries)), squeeze=False,
                                gridspec_kw={"wspace": 0.06, "hspace": 0.62, "top": 0.9, "bottom": 0.02,
                                             "left": 0.02, "right": 0.98})
    for row, (query, hits) in enumerate(zip(queries, ranked)):
        for column, index in enumerate(hits):
            axis = axes[row][column]
            picture = images[index]
            picture = picture.float() / 255.0 if picture.dtype == torch.uint8 else picture
            axis.imshow(picture.permute(1, 2, 0).clamp(0, 1).numpy())
            axis.set_xticks([])
            axis.set_yticks([])
            colour = "green" if captions[index] == captions[query] else "lightgrey"
            for spine in axis.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3 if colour == "green" else 1)
        axes[row][0].set_title(_wrap(captions[query], width=16 * k), fontsize=7, loc="left")
    figure.suptitle(f"ToonCLIP (trained here on avatars/emoji): caption -> top-{k} held-out avatars "
                    "(the captioned one framed green)", fontsize=8)
    return figure


def _wrap(text: str, width: int = 90) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def committed_retrieval_examples(n_queries: int = 4, k: int = 5, pool: int = 200, seed: int = 1):
    """The retrieval figure for the committed ToonCLIP on the first ``pool`` held-out avatars."""
    from toonlab import data
    from toonlab.features.toonclip import load_committed

    loaded = load_committed()
    size = loaded.config.image_size
    heldout = data.load_images("avatars", size, limit=pool, seed=seed, progress=False)
    images = torch.stack([heldout.uint8(i) for i in range(len(heldout))])
    captions = [avatar_caption(a, seed, i, 0).text for i, a in enumerate(heldout.attributes)]
    queries = torch.randperm(len(captions), generator=torch.Generator().manual_seed(seed))[:n_queries].tolist()
    return retrieval_examples_figure(loaded, images, captions, queries, k)

"""ToonCLIP: a small image–text encoder for the toon domain, built from open_clip's own ``CLIP`` class.

No pretrained CLIP can be downloaded where this book is built, so the offline profiles use a CLIP trained
here on captioned avatars and emoji (:mod:`toonlab.data.captions`, trained by
``python -m toonlab.metrics.train_toonclip``). This module is the network half: its config, its
vocabulary, the contrastive loss, and loading the committed weights after a sha256 check.

Vocabulary. Text goes through open_clip's BPE tokenizer unchanged, but the token-embedding table only
holds the BPE tokens of the caption corpus and the prompt vocabulary (a few thousand of 49,408): the full
table would be 49,408 × width parameters, most of the weights file, for tokens no caption contains. The
BPE ids are re-numbered ``0 = pad, 1 = <unk>, 2 = <start>, 3.. = corpus tokens in BPE order, last =
<end>``; <end> must be the largest id because open_clip pools the text at ``argmax`` of the ids. A BPE
token outside the table (a word no caption uses, or a piece of one) maps to **<unk>**, so any prompt
still encodes, and words the model never saw all read the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from toonlab.data.manifest import sha256_file

PAD, UNK, SOT = 0, 1, 2
LABEL = "ToonCLIP (trained here on avatars/emoji)"


class ToonClipError(RuntimeError):
    """ToonCLIP weights are missing, changed, or do not fit this module."""


@dataclass
class ToonClipConfig:
    """Architecture of ToonCLIP (stored in the safetensors metadata next to the weights)."""

    embed_dim: int = 128
    image_size: int = 64  # the resolution: what two CPU cores can train on in 20 minutes
    patch_size: int = 8  # 8 x 8 = 64 patches
    # tower sizes: small enough for the 20-minute budget on two shared CPU cores (1.1 M parameters; the
    # feasibility probe's 4-layer, 192-wide ViT was 2-3x slower per step in our timing)
    vision_width: int = 128
    vision_layers: int = 3
    vision_head_width: int = 32
    text_width: int = 96
    text_heads: int = 4
    text_layers: int = 2
    context_length: int = 48  # the longest avatar caption is ~45 BPE tokens with <start>/<end>
    bpe_ids: list[int] = field(default_factory=list)  # open_clip BPE ids kept in the table, ascending

    @property
    def vocab_size(self) -> int:
        return len(self.bpe_ids) + 4  # pad, unk, start ... end

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ToonClipConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown or "bpe_ids" not in values:
            raise ToonClipError(f"ToonCLIP config has unknown fields {unknown} or no vocabulary: the weights come "
                                f"from another version of this module; retrain with "
                                f"`python -m toonlab.metrics.train_toonclip`")
        return cls(**{k: (list(v) if k == "bpe_ids" else v) for k, v in values.items()})


# ---------------------------------------------------------------------------------------------------
# vocabulary


def _bpe() -> Any:
    import open_clip.tokenizer

    return open_clip.tokenizer.SimpleTokenizer(context_length=None)


def corpus_bpe_ids(texts: Iterable[str]) -> list[int]:
    """The open_clip BPE ids the texts use (sorted): the reduced vocabulary."""
    bpe = _bpe()
    ids: set[int] = set()
    for text in texts:
        ids.update(bpe.encode(text))
    return sorted(ids)


class ToonTokenizer:
    """open_clip's BPE tokenizer, re-numbered into ToonCLIP's reduced table (see the module docstring).

    Called like open_clip's tokenizers: ``tokenizer(["a cartoon avatar", ...])`` -> (N, context) ids.
    """

    def __init__(self, bpe_ids: Sequence[int], context_length: int) -> None:
        if not bpe_ids:
            raise ToonClipError("the ToonCLIP vocabulary is empty: build it from the caption corpus")
        if context_length < 3:
            raise ToonClipError(f"context_length {context_length} leaves no room for text between <start> and <end>")
        self.bpe = _bpe()
        self.context_length = context_length
        self.bpe_ids = list(bpe_ids)
        self.eot = len(self.bpe_ids) + 3
        lookup = torch.full((len(self.bpe.encoder),), UNK, dtype=torch.long)
        lookup[torch.tensor(self.bpe_ids)] = torch.arange(3, 3 + len(self.bpe_ids))
        self.lookup = lookup

    @property
    def vocab_size(self) -> int:
        return self.eot + 1

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        length = context_length or self.context_length
        tokens = torch.full((len(texts), length), PAD, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.lookup[torch.tensor(self.bpe.encode(text), dtype=torch.long)].tolist()[: length - 2]
            ids = [SOT, *ids, self.eot]  # truncated captions still end with <end>, as open_clip's do
            tokens[row, : len(ids)] = torch.tensor(ids)
        return tokens

    def unknown_fraction(self, texts: Sequence[str]) -> float:
        """Share of BPE tokens in ``texts`` that map to <unk> (a check that prompts are in-vocabulary)."""
        total = unknown = 0
        for text in texts:
            ids = self.lookup[torch.tensor(self.bpe.encode(text), dtype=torch.long)]
            total += len(ids)
            unknown += int((ids == UNK).sum())
        return unknown / max(1, total)


# ---------------------------------------------------------------------------------------------------
# the network


def build_toonclip(config: ToonClipConfig) -> Any:
    """``open_clip.CLIP`` with ToonCLIP's small towers and reduced token table (randomly initialised)."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    if not config.bpe_ids:
        raise ToonClipError("ToonClipConfig.bpe_ids is empty: build the vocabulary with corpus_bpe_ids(...)")
    vision = CLIPVisionCfg(layers=config.vision_layers, width=config.vision_width, patch_size=config.patch_size,
                           image_size=config.image_size, head_width=config.vision_head_width)
    text = CLIPTextCfg(context_length=config.context_length, vocab_size=config.vocab_size, width=config.text_width,
                       heads=config.text_heads, layers=config.text_layers)
    return open_clip.CLIP(embed_dim=config.embed_dim, vision_cfg=vision, text_cfg=text)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images at the model's size -> CLIP's mean/std normalisation (what ``preprocess`` also does)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    mean = images.new_tensor(OPENAI_DATASET_MEAN)[:, None, None]
    std = images.new_tensor(OPENAI_DATASET_STD)[:, None, None]
    return (images - mean) / std


def contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
                     same: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's symmetric InfoNCE, with false negatives removed.

    ``same[i, j]`` (bool, B x B) is True where caption j is also true of image i — two captions of one
    avatar, or a short caption ("a cartoon avatar with glasses") that fits another image of the batch.
    Those pairs are taken out of both softmaxes (logit -inf) instead of being pushed apart; the diagonal
    is always kept as the positive. With ``same=None`` this is open_clip's ``ClipLoss`` exactly.
    """
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits = logit_scale * image_features @ text_features.T
    if same is not None:
        if same.shape != logits.shape:
            raise ValueError(f"false-negative mask has shape {tuple(same.shape)}, logits {tuple(logits.shape)}")
        eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same.to(logits.device) & ~eye, float("-inf"))
    targets = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def false_negatives(caption_facts: torch.Tensor, image_facts: torch.Tensor) -> torch.Tensor:
    """``same[i, j]``: every fact caption j states holds for image i.

    Facts are integer-coded per slot: ``caption_facts`` (B, S) with -1 where the caption says nothing about
    the slot; ``image_facts`` (B, S) with the image's value (-2 where the image has no such slot).
    """
    captions, images = caption_facts[None, :, :], image_facts[:, None, :]
    return ((captions == -1) | (captions == images)).all(dim=-1)


# ---------------------------------------------------------------------------------------------------
# the committed weights


@dataclass
class LoadedToonClip:
    """What :func:`load_toonclip` returns: model, tokenizer, config and the file's sha256."""

    model: Any
    tokenizer: ToonTokenizer
    config: ToonClipConfig
    sha256: str


def load_toonclip(path: str | Path, expected_sha256: str | None, device: str | torch.device = "cpu") -> LoadedToonClip:
    """The frozen ToonCLIP from ``path`` after checking it against ``expected_sha256`` (None: unchecked,
    for freshly trained files only)."""
    from toonlab.train.checkpoint import load_weights

    path = Path(path)
    if not path.is_file():
        raise ToonClipError(f"ToonCLIP weights {path} are missing; they ship with the repository "
                            f"(git checkout data/weights/toonclip.safetensors) or are rebuilt with "
                            f"`python -m toonlab.metrics.train_toonclip`")
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ToonClipError(f"{path} has sha256 {actual[:16]}…, but the registry (data/registry.yaml, weights: toonclip) says "
                            f"{expected_sha256[:16]}…: the weights changed, so CLIP numbers would not be comparable. "
                            f"Restore the file (git checkout -- {_repo_relative(path)}) or retrain and update the "
                            f"registry")
    state, config_dict = load_weights(path)
    config = ToonClipConfig.from_dict(config_dict)
    model = build_toonclip(config)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.toonlab_weights = f"ToonCLIP sha256:{actual[:12]}"
    tokenizer = ToonTokenizer(config.bpe_ids, config.context_length)
    return LoadedToonClip(model.eval().requires_grad_(False).to(device), tokenizer, config, actual)


def _repo_relative(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it (what `git checkout --` takes)."""
    from toonlab.paths import repo_root

    try:
        return Path(path).resolve().relative_to(repo_root().resolve()).as_posix()
    except ValueError:
        return str(path)


def load_committed(device: str | torch.device = "cpu", root: Path | None = None) -> LoadedToonClip:
    """The committed ToonCLIP (``weights: toonclip`` in data/registry.yaml), sha256-checked."""
    from toonlab.data.registry import weights_spec

    spec = weights_spec("toonclip", root)
    return load_toonclip(spec.file, spec.sha256, device)

"""CLIP image/text encoders through open_clip: pretrained in ``full``, a tiny random CLIP in ``ci``,
ToonCLIP (trained here, :mod:`toonlab.features.toonclip`) in the offline profiles.

The tiny model is the same ``open_clip.CLIP`` class with a small config (the way diffusers tests its
pipelines), and it uses open_clip's real BPE tokenizer, which ships inside the package — so the whole
text path (tokenize -> encode_text) is exercised offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from toonlab.zoo.hub import hf_snapshot


@dataclass
class ClipBundle:
    """What every CLIP consumer needs: the model, its image preprocessing and its tokenizer."""

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    name: str
    image_size: int
    embed_dim: int


@dataclass(frozen=True)
class TinyClipConfig:
    embed_dim: int = 32
    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 32
    vision_layers: int = 2
    text_width: int = 32
    text_heads: int = 2
    text_layers: int = 2
    context_length: int = 77
    vocab_size: int = 49408  # open_clip's BPE vocabulary, so the real tokenizer can be used


def tiny_clip(config: TinyClipConfig = TinyClipConfig(), seed: int = 0, device: str | torch.device = "cpu") -> ClipBundle:
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=config.vision_layers, width=config.vision_width, patch_size=config.patch_size,
                           image_size=config.image_size, head_width=config.vision_width // 2)
    text = CLIPTextCfg(context_length=config.context_length, vocab_size=config.vocab_size, width=config.text_width,
                       heads=config.text_heads, layers=config.text_layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(embed_dim=config.embed_dim, vision_cfg=vision, text_cfg=text)
    model.eval().to(device)
    preprocess = open_clip.image_transform(config.image_size, is_train=False)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=config.context_length)
    return ClipBundle(model, preprocess, tokenizer, f"tiny random open_clip CLIP (seed {seed})",
                      config.image_size, config.embed_dim)


def pretrained_clip(arch: str, tag: str, hub_repo: str, device: str | torch.device = "cpu") -> ClipBundle:
    import open_clip

    # open_clip loads open_clip_model.safetensors when the repository has it (and fetches the .bin itself
    # when it does not); the repositories' other copies (transformers weights, .bin) are not needed.
    hf_snapshot(hub_repo, allow_patterns=["open_clip_config.json", "open_clip_model.safetensors"],
                what=f"CLIP {arch} {tag}")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=tag, device=device)
    model.eval()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    embed_dim = model.text_projection.shape[-1] if hasattr(model, "text_projection") else None
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(arch), f"open_clip {arch} {tag}", int(size), embed_dim)


def toonclip(device: str | torch.device = "cpu") -> ClipBundle:
    """The committed ToonCLIP (sha256-checked against data/registry.yaml) as a bundle CLIP-T/CLIP-I accept.

    Its preprocessing is open_clip's eval transform at 64 px with CLIP's mean/std — what training fed it
    (64 px renders normalised the same way); its tokenizer is open_clip's BPE in ToonCLIP's reduced table.
    """
    import open_clip

    # the zoo resolves roles for every layer; the network itself lives in the networks layer
    from toonlab.features.toonclip import LABEL, load_committed

    loaded = load_committed(device)
    size = loaded.config.image_size
    return ClipBundle(loaded.model, open_clip.image_transform(size, is_train=False), loaded.tokenizer,
                      f"{LABEL}, sha256:{loaded.sha256[:12]}", size, loaded.config.embed_dim)

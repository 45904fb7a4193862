"""Edit directions in a StyleGAN2 latent space, four ways, and the edit itself (w' = w + c * dW).

Layer 3 (networks): pure tensor code on a frozen generator, a frozen CLIP and a fitted mapper; nothing
here trains a network or writes a file.

* :func:`text_delta` — CelebrityLook / CSLA's text edit through the CLIP -> W+ mapper of chapter 05:
  ``dW = mapper(f_T(target)) - mapper(f_T(source))``. Because CLIP aligns its text and image spaces and the
  mapper was trained on image embeddings only, a text embedding stands in for an image one.
* :func:`interfacegan_direction` — InterFaceGAN (Shen et al. 2020): a linear SVM separating latents with
  and without an attribute; the edit follows the unit normal of its boundary.
* :func:`ganspace_directions` — GANSpace (Härkönen et al. 2020): PCA of sampled latents; each component
  is named afterwards by the attribute it moves most (:func:`name_components`).
* :func:`clip_optimisation` — StyleCLIP's latent optimisation (Patashnik et al. 2021): per image, minimise
  a CLIP loss to the target text plus an L2 pull to the starting latent. The slow reference.

:func:`apply_edit` is the edit of the source, ``w + c * dW`` with ``c`` in ``[0, C_MAX]`` (CelebrityLook's
GIFs sweep 0 -> 0.8); :func:`check_prompt` refuses prompts the text encoder cannot read whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

C_MAX = 0.8  # CelebrityLook's README: every example sweeps c from 0 to 0.8


class EditInputError(ValueError):
    """A prompt, an edit strength or an attribute an edit cannot use; the message says how to fix it."""


# ---------------------------------------------------------------------------------------------------
# the edit


def check_strength(c: float | torch.Tensor, c_max: float = C_MAX) -> None:
    """Refuse an edit strength outside ``[0, c_max]`` (one number or one per image)."""
    values = torch.as_tensor(c).detach().double()
    # 1e-6 of slack: c_max stored in float32 (0.8 -> 0.800000012) is still c_max
    if not torch.isfinite(values).all() or (values < 0).any() or (values > c_max + 1e-6).any():
        shown = values.flatten()[:5].tolist()
        raise EditInputError(f"edit strength c = {shown} is outside [0, {c_max}]: CelebrityLook sweeps c from 0 to "
                             f"{c_max}; pass values in that range (a negative c edits towards the source prompt — "
                             f"swap source and target instead)")


def apply_edit(latents: torch.Tensor, direction: torch.Tensor, c: float | torch.Tensor,
               c_max: float = C_MAX) -> torch.Tensor:
    """``w + c * dW``: ``latents`` (B, *S), ``direction`` (*S) shared or (B, *S) per image, ``c`` one number or
    one per image. ``c = 0`` returns the latents themselves, bit for bit (so the image is the original)."""
    check_strength(c, c_max)
    if direction.shape != latents.shape and direction.shape != latents.shape[1:]:
        raise EditInputError(f"a direction of shape {tuple(direction.shape)} cannot edit latents of shape "
                             f"{tuple(latents.shape)}: give one per latent space ({tuple(latents.shape[1:])}) or one "
                             f"per image")
    c = torch.as_tensor(c, dtype=latents.dtype, device=latents.device)
    if c.ndim == 0:
        if float(c) == 0.0:
            return latents
        return latents + c * direction
    if c.shape != (len(latents),):
        raise EditInputError(f"{len(latents)} latents but {tuple(c.shape)} edit strengths; give one number or one per latent")
    edited = latents + c.view(-1, *[1] * (latents.ndim - 1)) * direction
    return torch.where((c == 0).view(-1, *[1] * (latents.ndim - 1)), latents, edited)


def match_norm(direction: torch.Tensor, reference: torch.Tensor, *, per_image: bool = False) -> torch.Tensor:
    """``direction`` rescaled to the L2 norm of ``reference``.

    Shapes: ``direction`` (B, *S) per image with ``reference`` (*S) shared: every image's direction gets the
    one reference length; ``per_image=True`` with both (B, *S): image i gets ``reference[i]``'s length;
    otherwise both are one direction and are compared whole.
    """
    if per_image:
        if direction.shape != reference.shape or direction.ndim < 2:
            raise EditInputError(f"per-image match_norm needs two (B, ...) tensors of one shape, got "
                                 f"{tuple(direction.shape)} and {tuple(reference.shape)}")
        lengths = reference.flatten(1).norm(dim=1)
        return set_length(direction, lengths, per_image=True)
    if direction.ndim == reference.ndim + 1:  # one direction per image, one shared reference
        return set_length(direction, reference.norm(), per_image=True)
    return set_length(direction, reference.norm())


def set_length(direction: torch.Tensor, length: float | torch.Tensor, *, per_image: bool = False) -> torch.Tensor:
    """``direction`` scaled to L2 norm ``length`` (with ``per_image``: each ``direction[i]`` to ``length``, one
    number or one per image). A zero direction stays zero (it has no orientation to keep)."""
    length = torch.as_tensor(length, dtype=direction.dtype, device=direction.device)
    if per_image:
        norms = direction.flatten(1).norm(dim=1)
        return direction * (length / norms.clamp_min(1e-12)).view(-1, *[1] * (direction.ndim - 1))
    return direction * (length / direction.norm().clamp_min(1e-12))


def w_spread(w_samples: torch.Tensor) -> float:
    """sigma_W: the root-mean-square per-dimension standard deviation of sampled w ``(N, D)``; the unit of
    the chapter's fixed edit distance."""
    if w_samples.ndim != 2 or len(w_samples) < 2:
        raise EditInputError(f"sigma_W needs at least two sampled w (N, D), got {tuple(w_samples.shape)}")
    return float(w_samples.double().var(0).mean().sqrt())


def fixed_distance(direction: torch.Tensor, rows: int, sigma_w: float, k: float, *, per_image: bool = False) -> torch.Tensor:
    """``direction`` in W+ ``(rows, D)`` (or ``(B, rows, D)`` with ``per_image``) rescaled so its length is
    ``k * sigma_W`` per W+ row, i.e. a Frobenius norm of ``k * sigma_W * sqrt(rows)``: every method moves one
    fixed distance at c = 1, whatever length its finder returned (a mapper that learned little gives a short
    text delta; rescaling the others to it would shrink every method with it)."""
    if k <= 0 or sigma_w <= 0:
        raise EditInputError(f"the edit distance k * sigma_W must be positive (k = {k}, sigma_W = {sigma_w})")
    return set_length(direction, k * sigma_w * rows ** 0.5, per_image=per_image)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine between two directions, flattened (the planted-direction tests' measure)."""
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


# ---------------------------------------------------------------------------------------------------
# text delta (CelebrityLook / CSLA)


def _token_ids(tokenizer, text: str) -> list[int]:
    """BPE ids of ``text`` without <start>/<end>: ToonCLIP's tokenizer keeps open_clip's BPE as ``.bpe``."""
    bpe = getattr(tokenizer, "bpe", None)  # open_clip's own SimpleTokenizer has a bpe() *method*
    bpe = bpe if hasattr(bpe, "encode") else tokenizer
    if not hasattr(bpe, "encode"):
        raise TypeError(f"cannot count tokens with {type(tokenizer).__name__}: it has no BPE encode()")
    return list(bpe.encode(text))


def check_prompt(tokenizer, text: str) -> str:
    """``text`` stripped, after refusing an empty prompt, one longer than the tokenizer's context (CLIP
    tokenizers cut long prompts silently, so the edit would follow a different, shorter text) and, for a
    tokenizer with a reduced vocabulary (ToonCLIP's ``unknown_fraction``), one whose every token is <unk>."""
    if not isinstance(text, str) or not text.strip():
        raise EditInputError(f"empty prompt {text!r}: give the text to edit towards, e.g. 'a cartoon avatar with glasses'")
    text = text.strip()
    context = getattr(tokenizer, "context_length", None) or 77
    needed = len(_token_ids(tokenizer, text)) + 2  # <start> ... <end>
    if needed > context:
        raise EditInputError(f"prompt {text[:60]!r}… needs {needed} tokens with <start>/<end>, but the text encoder reads "
                             f"{context}: CLIP would cut it silently. Shorten it to at most {context - 2} BPE tokens")
    # ToonCLIP's reduced table maps every word outside its caption corpus to one <unk> id: a prompt made only
    # of such words encodes as <start> <unk>... <end>, the same vector as any other unknown prompt
    unknown_fraction = getattr(tokenizer, "unknown_fraction", None)
    if unknown_fraction is not None and unknown_fraction([text]) >= 1.0:
        size = getattr(tokenizer, "vocab_size", "?")
        raise EditInputError(f"prompt {text!r}: every token is <unk> in this text encoder's vocabulary (ToonCLIP's reduced "
                             f"table of {size} ids, the BPE tokens of toonlab.data.captions.caption_corpus), so it would "
                             f"encode like any other unknown text. Use the avatar caption words, e.g. "
                             f"toonlab.data.captions.prompt('glasses_kind', 'glasses')")
    return text


def text_delta(mapper: torch.nn.Module, encode_text: Callable[[Sequence[str]], torch.Tensor], tokenizer,
               source: str, target: str) -> torch.Tensor:
    """CSLA's edit direction ``dW = mapper(f_T(target)) - mapper(f_T(source))``, shape ``(*latent_shape)``.

    Swapping ``source`` and ``target`` gives exactly ``-dW`` (IEEE subtraction is antisymmetric).
    """
    source, target = check_prompt(tokenizer, source), check_prompt(tokenizer, target)
    if source == target:
        raise EditInputError(f"source and target prompts are both {source!r}: the delta would be zero")
    with torch.no_grad():
        embeddings = encode_text([target, source])
        latents = mapper(embeddings)
    return latents[0] - latents[1]


# ---------------------------------------------------------------------------------------------------
# InterFaceGAN


def interfacegan_direction(latents: torch.Tensor, labels: torch.Tensor | Sequence[bool], *, C: float = 1.0,
                           seed: int = 0) -> torch.Tensor:
    """The unit normal of a linear SVM boundary between latents with (True) and without (False) the
    attribute, pointing towards it. ``latents`` (N, D) — InterFaceGAN works in W (one row); the chapter
    broadcasts the normal to every W+ row.

    InterFaceGAN trains ``sklearn.svm.SVC(kernel='linear')`` on the most confident samples by a pretrained
    attribute predictor; we fit :class:`sklearn.svm.LinearSVC` (the same boundary family, and it scales to
    thousands of samples) on every sample the labeller gives. The latents are centred but not standardised:
    per-coordinate scaling would tilt the normal away from the boundary in W itself.
    """
    from sklearn.svm import LinearSVC

    x = latents.detach().double().cpu().numpy()
    y = torch.as_tensor(labels).bool().cpu().numpy()
    if x.ndim != 2 or len(x) != len(y):
        raise EditInputError(f"InterFaceGAN needs latents (N, D) and N labels, got {x.shape} and {len(y)}")
    if y.all() or not y.any():
        raise EditInputError(f"InterFaceGAN needs samples with and without the attribute; all {len(y)} labels are "
                             f"{bool(y[0])}: sample more latents, or pick an attribute the generator varies")
    svm = LinearSVC(C=C, dual="auto", max_iter=20_000, random_state=seed)
    svm.fit(x - x.mean(0), y)
    normal = torch.as_tensor(svm.coef_[0], dtype=latents.dtype)
    return normal / normal.norm()


# ---------------------------------------------------------------------------------------------------
# GANSpace


@dataclass
class Components:
    """GANSpace's principal directions of W: ``directions`` (K, D) unit rows, ``std`` (K,) the standard
    deviation of the latents along each, ``explained`` (K,) the share of variance."""

    directions: torch.Tensor
    std: torch.Tensor
    explained: torch.Tensor


def ganspace_directions(latents: torch.Tensor, n_components: int = 10, seed: int = 0) -> Components:
    """PCA of sampled latents ``(N, D)`` (GANSpace samples w = mapping(z) and runs PCA on them)."""
    from sklearn.decomposition import PCA

    if latents.ndim != 2:
        raise EditInputError(f"GANSpace takes latents (N, D), got {tuple(latents.shape)}")
    k = min(n_components, latents.shape[1], len(latents))
    pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(latents.detach().double().cpu().numpy())
    directions = torch.as_tensor(pca.components_, dtype=latents.dtype)
    return Components(directions, torch.as_tensor(pca.explained_variance_, dtype=latents.dtype).sqrt(),
                      torch.as_tensor(pca.explained_variance_ratio_, dtype=latents.dtype))


def name_components(components: Components, latents: torch.Tensor,
                    attribute_scores: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                    step: float = 2.0) -> list[tuple[str, float]]:
    """GANSpace names its components by looking at them; we let an attribute scorer look. Each component k
    moves ``latents`` by ``± step * std_k``; the name is the attribute whose mean score changes most, signed
    (+1: the attribute grows along the component). ``attribute_scores(latents) -> {name: (N,) scores}``.
    Returns ``[(name, signed change)]`` per component."""
    names = []
    for direction, std in zip(components.directions, components.std):
        offset = step * std * direction.to(latents.device)
        up, down = attribute_scores(latents + offset), attribute_scores(latents - offset)
        changes = {name: float((up[name] - down[name]).mean()) for name in up}
        best = max(changes, key=lambda name: abs(changes[name]))
        names.append((best, changes[best]))
    return names


def ganspace_component_for(names: Sequence[tuple[str, float]], attribute: str) -> int:
    """The index k of the component named ``attribute`` that moves it most (the one to edit along)."""
    candidates = [(abs(change), k) for k, (name, change) in enumerate(names) if name == attribute]
    if not candidates:
        raise EditInputError(f"no GANSpace component is named {attribute!r} (names: {sorted({n for n, _ in names})}): "
                             f"use more components, or the attribute does not vary along the top ones")
    return max(candidates)[1]


def ganspace_direction_for(components: Components, names: Sequence[tuple[str, float]], attribute: str) -> torch.Tensor:
    """The component named ``attribute`` that moves it most (:func:`ganspace_component_for`), oriented so the
    attribute grows."""
    k = ganspace_component_for(names, attribute)
    return components.directions[k] * (1.0 if names[k][1] >= 0 else -1.0)


# ---------------------------------------------------------------------------------------------------
# StyleCLIP latent optimisation


@dataclass
class ClipOptimisationConfig:
    """StyleCLIP's optimiser (its ``optimization/run_optimization.py``): Adam lr 0.1 with a cosine-shaped
    ramp, 300 steps, L2 weight 0.008 in W+. We leave out its ArcFace identity term (faces only; our
    preservation is measured, not optimised) and its noise maps (our generators use fixed noise)."""

    steps: int = 300
    lr: float = 0.1
    l2_lambda: float = 0.008


def clip_optimisation(latents: torch.Tensor, render_embedding: Callable[[torch.Tensor], torch.Tensor],
                      text_embedding: torch.Tensor, config: ClipOptimisationConfig = ClipOptimisationConfig()) -> torch.Tensor:
    """StyleCLIP latent optimisation, batched: minimise ``1 - cos(E_I(G(w)), E_T(t)) + λ ||w - w0||²`` from
    ``w0 = latents``. ``render_embedding(w)`` is ``E_I(G(w))`` (differentiable); returns the optimised
    latents. The edit direction of image i is ``result_i - w0_i``."""
    import math

    start = latents.detach()
    w = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([w], lr=config.lr)
    target = F.normalize(text_embedding.detach().float().reshape(1, -1), dim=-1)
    for step in range(config.steps):
        t = step / config.steps  # StyleCLIP's get_lr: lr * min(1, (1-t)/0.25)-cosine ramp-down, 5 % ramp-up
        ramp = min(1.0, (1 - t) / 0.25)
        ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
        for group in optimiser.param_groups:
            group["lr"] = config.lr * ramp * min(1.0, t / 0.05)
        embedding = F.normalize(render_embedding(w).float(), dim=-1)
        clip_loss = 1 - (embedding * target).sum(-1)
        l2 = (w - start).pow(2).flatten(1).sum(1)
        loss = (clip_loss + config.l2_lambda * l2).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return w.detach()

"""Chapter 05 — inversion mappers: from an image (or a text) to a GAN latent, three sources and the standard encoders.

What the chapter does: on the same frozen generators (chapter 03's FastGAN and StyleGAN2, or the FFHQ
StyleGAN2 in ``full``) it trains and measures the three source mappers — PopYou's CLIP -> z mapper,
ToyHollyWood's SimCLR mapper (with its CLIP-gradient bug as released and fixed), CelebrityLook's
data-free CLIP -> W+ mapper — beside the standard family they belong to: a pSp-style encoder into W+,
per-image latent optimisation (the quality ceiling) and the hybrid (encoder start + a few optimisation
steps). One metric set for all (MSE, LPIPS or LPIPS-toon, toon-attribute agreement, CLIP-I to the input,
seconds per image, trainable parameters), known-answer latent recovery against the mean latent, PopYou's
text -> image use beside its reported 0.31, and the quality-vs-time frontier.

The steps the notebook calls, in order:

* :func:`check_generators`, :func:`load_generator` — the generators, each checked against the
  architecture and resolution the chapter expects (:func:`describe_generators` for the table);
* :func:`load_images`, :func:`split` — training and held-out images at each generator's resolution;
* :func:`build_models` — CLIP (tiny random / ToonCLIP / ViT-L-14), the perceptual distances, the toon
  classifier and its usable heads;
* :func:`train_methods` — every learned method on the shared training loop (exact resume, atomic
  checkpoints), :func:`loss_figure`;
* :func:`build_inverters` — the learned methods plus optimisation, the hybrid and the mean latent;
* :func:`evaluate`, :func:`results_table` — the metric set per method, :func:`reconstruction_figure`;
* :func:`latent_recovery` — known answers: generated images with their latents;
* :func:`bug_table`, :func:`bug_figure` — what ToyHollyWood's missing CLIP gradient cost;
* :func:`text_to_image` — CLIP-T of the mappers' text -> image beside PopYou's 0.31;
* :func:`frontier_figure`, :func:`frontier_bars` — quality against seconds per image, and the
  benchmark's bars on the chapter's own numbers;
* :func:`face_identity_table` — dlib's face identity where the inputs are faces (optional dependency).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from toonlab import zoo
from toonlab.data import load_images
from toonlab.diffusion.prompts import POPYOU_GAN_CLIP, POPYOU_TEXT_PROMPTS, POPYOU_TEXT_TEMPLATE, fill
from toonlab.inversion.clip_encoder import DifferentiableClip
from toonlab.inversion.encoders import PSPEncoder, PSPEncoderConfig, ResNetConfig, SimCLR, SimCLRConfig
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.losses import reconstruction_terms
from toonlab.inversion.mappers import (CSLAMapper, CSLAMapperConfig, PopYouMapper, PopYouMapperConfig,
                                       ToyHollyWoodMapper, ToyHollyWoodMapperConfig)
from toonlab.inversion.optimize import OptimizeConfig
from toonlab.inversion.pipelines import (CSLAInverter, EncoderInverter, Inverter, MeanLatent, OptimizationInverter,
                                         PopYouInverter, ToyHollyWoodInverter)
from toonlab.metrics.cost import count_parameters
from toonlab.metrics.face_identity import FaceIdentityUnavailable
from toonlab.metrics.inversion import face_identity, latent_error, reconstruction_scores
from toonlab.metrics.clip_score import clip_t
from toonlab.metrics.perceptual_toon import build_perceptual_distance
from toonlab.metrics.toon_features import heldout_table, load_toon_features
from toonlab.paths import cache_dir
from toonlab.recorded import recorded_summary
from toonlab.train.generator_sources import KINDS, REGISTERED, SOURCES, load_sourced_generator
from toonlab.train.inversion_tasks import (CSLATask, EncoderTask, FitResult, PopYouTask, SeededLatents, SimCLRTask,
                                           ToyHollyWoodTask, fit)

CHAPTER = "05_inversion"
POPYOU_CLIP_T = POPYOU_GAN_CLIP  # PopYou README: CLIP similarity of its GAN + mapper (0.31)
# the methods each generator gets, in table order
METHODS = {
    "fastgan": ("mean latent", "PopYou mapper", "pSp encoder (z)", "optimisation (z)", "hybrid (z)"),
    "stylegan2": ("mean latent", "ToyHollyWood mapper (as released)", "ToyHollyWood mapper (CLIP grad fixed)",
                  "CSLA mapper (W+)", "pSp encoder (W+)", "optimisation (W)", "optimisation (W+)", "hybrid (W+)"),
}
# offline text -> image prompts: one avatar fact each, in the caption template ToonCLIP was trained on
AVATAR_PROMPT_FACTS = (("glasses", "round glasses"), ("facial_hair", "a medium beard"), ("mouth", "a smile"),
                       ("skin", "dark brown skin"))


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def runs_root(profile: str) -> Path:
    return cache_dir("inversion", profile)


def _digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------------
# generators


@dataclass
class LoadedGenerator:
    kind: str
    network: torch.nn.Module
    label: str  # what it is, for tables ("tiny random FastGAN, 64 px", "chapter 03 cpu export ...")
    identity: str  # what identifies its weights (for run folders)
    spaces: dict[tuple[str, int], InversionGenerator] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return int(self.network.config.resolution)

    def space(self, space: str, seed: int = 0) -> InversionGenerator:
        """The generator seen through one latent space, built once (FastGAN's precise BN runs once)."""
        if (space, seed) not in self.spaces:
            self.spaces[space, seed] = InversionGenerator(self.network, space, seed=seed)
        return self.spaces[space, seed]


def check_generators(sources: Mapping[str, str]) -> None:
    """Fail at once, naming the choices, on an unknown generator kind or source."""
    bad = {k: v for k, v in sources.items() if k not in KINDS or v not in SOURCES + ("",)}
    if bad or not any(sources.values()):
        raise ValueError(f"generator sources {dict(sources)}: kinds are {KINDS}, sources {SOURCES} ('' skips one)")
    if sources.get("fastgan") == "ffhq":
        raise ValueError("'ffhq' is a StyleGAN2 checkpoint; the FastGAN comes from 'tiny', 'registered' or 'chapter03'")


def load_generator(kind: str, source: str, *, resolution: int, profile: str, data: str, seed: int,
                   device: str = "cpu") -> LoadedGenerator:
    """One generator: ``tiny`` (chapter 03's tiny config, random weights from ``seed``), ``registered``
    (chapter 03's committed ``cpu`` export, sha256-checked), ``chapter03`` (the export of chapter 03's run
    in this profile's cache) or ``ffhq`` (the FFHQ StyleGAN2 through the rosinality loader)."""
    sourced = load_sourced_generator(kind, source, resolution=resolution, profile=profile, data=data, seed=seed,
                                     device=device)
    return LoadedGenerator(kind, sourced.network, sourced.label, sourced.identity)


def describe_generators(generators: Mapping[str, LoadedGenerator]):
    import pandas as pd

    rows = []
    for name, g in generators.items():
        rows.append({"generator": name, "weights": g.label, "resolution": g.resolution,
                     "latent spaces": ", ".join(("z",) if g.kind == "fastgan" else ("z (style-vectoriser input)", "w", "W+")),
                     "W+ rows": getattr(g.network, "n_latent", None),
                     "parameters (M)": round(count_parameters(g.network) / 1e6, 3)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# data and frozen models


def split(dataset: Any, n_train: int, n_test: int,
          extra_test: int = 0) -> tuple[torch.utils.data.Subset, torch.Tensor]:
    """The first ``n_test`` images held out (as a tensor), the next ``n_train`` for training; ``extra_test``
    more held-out images from after the training ones (the benchmark's larger held-out set, with the
    chapter's very training set)."""
    if len(dataset) < n_test + 1:
        raise ValueError(f"the data set has {len(dataset)} images; {n_test} held out need at least one more to train on")
    train_indices = list(range(n_test, min(len(dataset), n_test + n_train)))
    test_indices = list(range(n_test)) + list(range(n_test + len(train_indices), len(dataset)))[:extra_test]
    test = torch.stack([dataset[i][0] for i in test_indices])
    return torch.utils.data.Subset(dataset, train_indices), test


def fingerprint(images: Any) -> str:
    """What identifies a training set: the sha256 of its images' sha256 list (pixels when there is none), so
    a run folder never resumes on other images."""
    dataset, indices = (images.dataset, list(images.indices)) if isinstance(images, torch.utils.data.Subset) \
        else (images, list(range(len(images))))
    hashes = getattr(dataset, "sha256", None)
    digest = hashlib.sha256()
    for i in indices:
        if hashes:
            digest.update(hashes[i].encode())
        else:
            item = dataset[i]
            digest.update((item[0] if isinstance(item, (tuple, list)) else item).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class FrozenModels:
    clip_bundle: Any  # for CLIP-I / CLIP-T scores
    clip: DifferentiableClip  # for mapper inputs and CLIP losses
    lpips: torch.nn.Module
    dists: torch.nn.Module
    classifier: Any
    heads: list[str]
    labels: dict[str, str] = field(default_factory=dict)


def build_models(profile: str, device: str, seed: int = 0) -> FrozenModels:
    """CLIP for the profile (``ci``: tiny random; ``cpu``/``gpu``: ToonCLIP; ``full``: ViT-L-14), LPIPS and DISTS
    (toon versions offline), the toon classifier and the heads usable on held-out data."""
    bundle = zoo.load("clip", profile, device=device, **({"seed": seed} if profile == "ci" else {}))
    lpips = build_perceptual_distance("lpips", profile, device=device, seed=seed)
    dists = build_perceptual_distance("dists", profile, device=device, seed=seed)
    classifier = load_toon_features(device=device)
    heads = [row["head"] for row in heldout_table().to_dict("records")
             if row["usable"] and row["head"] in classifier.config.heads and row["head"] != "emoji_category"]
    labels = {"clip": zoo.describe("clip", profile), "lpips": getattr(lpips, "name", "LPIPS"),
              "dists": getattr(dists, "name", "DISTS"),
              "classifier": getattr(classifier, "toonlab_weights", "toon classifier")}
    return FrozenModels(bundle, DifferentiableClip(bundle, device), lpips, dists, classifier, heads, labels)


def reconstruction_loss(models: FrozenModels):
    """Pixel MSE + LPIPS (-toon) per image: the encoder's, the optimisation's and the hybrid's loss."""
    return lambda generated, target: reconstruction_terms(generated, target, models.lpips)


# ---------------------------------------------------------------------------------------------------
# training


@dataclass
class TrainSettings:
    steps: int
    batch_size: int
    simclr_steps: int
    csla_steps: int
    encoder_steps: int
    widths: tuple[int, ...]  # ResNet stage widths for SimCLR and the encoder ((64, 128, 256, 512): ResNet-18)
    mapper_lr: float = 1e-4
    csla_lr: float = 3e-5
    encoder_lr: float = 1e-4
    log_every: int = 5
    checkpoint_every: int = 0  # 0: only at the end


@dataclass
class Trained:
    """The learned networks of one generator and their training runs."""

    networks: dict[str, torch.nn.Module]
    fits: dict[str, FitResult]

    def seconds(self, name: str) -> float | None:
        fit_result = self.fits.get(name)
        return round(fit_result.wall_s, 2) if fit_result and fit_result.steps_trained_now else None


def method_table():
    """Each method as its source describes it, and what we chose where the source is silent."""
    import pandas as pd

    rows = [
        ("PopYou mapper", "PopYou (models/clip_mapper.py)", "CLIP image emb. -> 3 x (Linear+GELU) + residual -> Linear->z + GELU",
         "MSE + LPIPS + MSE(CLIP) - 0.6 |cos(CLIP)|", "none in the repository: Adam 1e-4 (ours)"),
        ("SimCLR", "ToyHollyWood (lightly)", "ResNet-18 + projection 512-512-512", "NT-Xent (temperature: lightly's 0.5)",
         "SGD 0.006 (source); momentum 0.9 (ours)"),
        ("ToyHollyWood mapper", "ToyHollyWood", "s + 4 x (Linear+GELU)(s) -> StyleGAN2 style vectoriser",
         "MSE(CLIP B/32) + (1 - cos) + DISTS + pixel MSE + SimCLR MSE; CLIP terms without gradient as released "
         "(clip_grad=False) or fixed (True)", "not stated: Adam 1e-4 (ours)"),
        ("CSLA mapper", "CelebrityLook / CSLA", "CLIP emb. - mean -> 6 x (Linear+GELU) + Linear -> L x style + GELU, + mean W+",
         "5 * MSE(W+ predicted, W+ true), data-free (z -> w -> image -> CLIP)", "Adam 3e-5 (source)"),
        ("pSp encoder", "pSp (Richardson et al. 2021), our scale", "ResNet + feature pyramid + map2style per W+ row, from the mean latent",
         "pixel MSE + LPIPS (pSp's ID and w-norm terms left out)", "Ranger 1e-4 in pSp: Adam 1e-4 (ours)"),
        ("optimisation", "StyleGAN2 projector (rosinality)", "the latent itself, from the mean latent",
         "pixel MSE + LPIPS (no noise maps, no latent noise)", "Adam 0.1, 5 % ramp-up, cosine ramp-down over 25 %"),
        ("hybrid", "e4e / ReStyle's recommendation", "encoder latent, then a few optimisation steps",
         "as optimisation", "Adam 0.05 without ramp-up (ours)"),
    ]
    return pd.DataFrame(rows, columns=["method", "source", "network", "loss", "optimiser"])


def _run(task: Any, dataset: Any, root: Path, name: str, record: Mapping[str, Any], *, steps: int,
         settings: TrainSettings, seed: int, progress: bool) -> FitResult:
    out = root / f"{name}-{_digest(record)}"
    return fit(task, dataset, out, steps=steps, batch_size=settings.batch_size, seed=seed,
               log_every=min(settings.log_every, steps), checkpoint_every=settings.checkpoint_every or steps,
               progress=progress)


def train_methods(generator: LoadedGenerator, train_set: Any, models: FrozenModels, settings: TrainSettings, *,
                  profile: str, data: str, seed: int, device: str = "cpu", progress: bool = True) -> Trained:
    """Every learned method of ``generator``, each on the shared loop in its own run folder (named by what
    shapes its weights, so re-running resumes and a changed setting starts afresh)."""
    root = runs_root(profile) / generator.identity
    base = {"data": data, "images": fingerprint(train_set), "batch": settings.batch_size, "seed": seed,
            "clip": models.labels["clip"], "generator": generator.identity}
    networks: dict[str, torch.nn.Module] = {}
    fits: dict[str, FitResult] = {}
    resnet = ResNetConfig(widths=tuple(settings.widths))
    run = dict(settings=settings, seed=seed, progress=progress)

    def seeded(build):
        torch.manual_seed(seed)
        return build().to(device)

    if generator.kind == "fastgan":
        z = generator.space("z", seed)
        mapper = seeded(lambda: PopYouMapper(PopYouMapperConfig(models.clip.embed_dim, z.latent_dim)))
        fits["PopYou mapper"] = _run(PopYouTask(mapper, z, models.clip, models.lpips, lr=settings.mapper_lr),
                                     train_set, root, "popyou", {**base, "lr": settings.mapper_lr},
                                     steps=settings.steps, **run)
        networks["PopYou mapper"] = fits["PopYou mapper"].trainer.unwrap("mapper")
        spaces = {"pSp encoder (z)": z}
    else:
        z, wplus = generator.space("z", seed), generator.space("w+", seed)
        # the last stage is as wide as the style vectoriser's input: w = s + mapper(s) goes straight in
        # (ToyHollyWood: ResNet-18's 512 = StyleGAN2's 512)
        simclr_resnet = ResNetConfig(widths=(*resnet.widths[:3], z.latent_dim))
        simclr = seeded(lambda: SimCLR(SimCLRConfig(simclr_resnet, z.latent_dim, z.latent_dim)))
        fits["SimCLR"] = _run(SimCLRTask(simclr), train_set, root, "simclr", {**base, "widths": simclr_resnet.widths},
                              steps=settings.simclr_steps, **run)
        simclr = fits["SimCLR"].trainer.unwrap("simclr").eval()
        networks["SimCLR"] = simclr
        for name, clip_grad in (("ToyHollyWood mapper (as released)", False),
                                ("ToyHollyWood mapper (CLIP grad fixed)", True)):
            mapper = seeded(lambda: ToyHollyWoodMapper(ToyHollyWoodMapperConfig(z.latent_dim)))
            task = ToyHollyWoodTask(mapper, simclr, z, models.clip, models.dists, clip_grad=clip_grad,
                                    lr=settings.mapper_lr)
            fits[name] = _run(task, train_set, root, f"toyhollywood-clipgrad{int(clip_grad)}",
                              {**base, "lr": settings.mapper_lr, "simclr": fits["SimCLR"].result.step,
                               "widths": resnet.widths}, steps=settings.steps, **run)
            networks[name] = fits[name].trainer.unwrap("mapper")
        csla = seeded(lambda: CSLAMapper(CSLAMapperConfig(models.clip.embed_dim, *wplus.latent_shape)))
        with torch.no_grad():  # the centres: mean W+ and the mean CLIP embedding of 512 generated images
            _, images = wplus.sample(512, seed + 1000)
            mean_clip = torch.cat([models.clip.encode_image(chunk.to(device)) for chunk in images.split(64)]).mean(0)
        csla.set_centres(wplus.mean_latent, mean_clip)
        latents = SeededLatents(100_000, wplus.generator.style_dim, seed + 2000)  # data-free: z only
        fits["CSLA mapper (W+)"] = _run(CSLATask(csla, wplus, models.clip, lr=settings.csla_lr), latents, root, "csla",
                                        {**base, "lr": settings.csla_lr}, steps=settings.csla_steps, **run)
        networks["CSLA mapper (W+)"] = fits["CSLA mapper (W+)"].trainer.unwrap("mapper")
        spaces = {"pSp encoder (W+)": wplus}
    for name, space in spaces.items():
        encoder = seeded(lambda: PSPEncoder(PSPEncoderConfig(generator.resolution, space.latent_shape, resnet)))
        encoder.set_mean_latent(space.mean_latent)
        fits[name] = _run(EncoderTask(encoder, space, models.lpips, lr=settings.encoder_lr), train_set, root,
                          f"encoder-{space.space}", {**base, "lr": settings.encoder_lr, "widths": resnet.widths},
                          steps=settings.encoder_steps, **run)
        networks[name] = fits[name].trainer.unwrap("encoder")
    return Trained(networks, fits)


def loss_figure(trained: Mapping[str, Trained]):
    """The loss curve of every learned method (one panel each)."""
    import matplotlib.pyplot as plt

    panels = [(g, name, f) for g, t in trained.items() for name, f in t.fits.items()]
    columns = min(4, len(panels))
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.7 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (g, name, f) in zip(axes.flat, panels):
        for loss, (steps, values) in f.result.history.series.items():
            ax.plot(steps, values, label=loss, linewidth=1.1)
        ax.set_title(f"{g}: {name}", fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# inverters and evaluation


def hybrid_config(steps: int, lr: float) -> OptimizeConfig:
    """The hybrid's few steps: half the learning rate and no ramp-up (our choice: it starts from the
    encoder's latent, already near the answer, and a 5 % ramp-up would waste its first step at lr 0)."""
    return OptimizeConfig(steps, lr / 2, rampup=0.0)


def build_inverters(generator: LoadedGenerator, trained: Trained, models: FrozenModels, *, optimize_steps: int,
                    hybrid_steps: int, optimize_lr: float, seed: int = 0) -> dict[str, Inverter]:
    """Every method of :data:`METHODS` for this generator, ready to invert images."""
    loss = reconstruction_loss(models)
    n = trained.networks
    if generator.kind == "fastgan":
        z = generator.space("z", seed)
        encoder = EncoderInverter(n["pSp encoder (z)"], z)
        return {
            "mean latent": MeanLatent(z),
            "PopYou mapper": PopYouInverter(models.clip, n["PopYou mapper"], z),
            "pSp encoder (z)": encoder,
            "optimisation (z)": OptimizationInverter(z, loss, OptimizeConfig(optimize_steps, optimize_lr)),
            "hybrid (z)": OptimizationInverter(z, loss, hybrid_config(hybrid_steps, optimize_lr), init=encoder),
        }
    z, w, wplus = (generator.space(s, seed) for s in ("z", "w", "w+"))
    encoder = EncoderInverter(n["pSp encoder (W+)"], wplus)
    return {
        "mean latent": MeanLatent(wplus),
        "ToyHollyWood mapper (as released)": ToyHollyWoodInverter(n["SimCLR"], n["ToyHollyWood mapper (as released)"], z),
        "ToyHollyWood mapper (CLIP grad fixed)": ToyHollyWoodInverter(n["SimCLR"], n["ToyHollyWood mapper (CLIP grad fixed)"], z),
        "CSLA mapper (W+)": CSLAInverter(models.clip, n["CSLA mapper (W+)"], wplus),
        "pSp encoder (W+)": encoder,
        "optimisation (W)": OptimizationInverter(w, loss, OptimizeConfig(optimize_steps, optimize_lr)),
        "optimisation (W+)": OptimizationInverter(wplus, loss, OptimizeConfig(optimize_steps, optimize_lr)),
        "hybrid (W+)": OptimizationInverter(wplus, loss, hybrid_config(hybrid_steps, optimize_lr), init=encoder),
    }


def trainable_parameters(inverter: Inverter) -> int:
    """Parameters trained for the method; for optimisation, the latent optimised per image."""
    if isinstance(inverter, OptimizationInverter) and inverter.init is None:
        return int(torch.Size(inverter.generator.latent_shape).numel())
    count = sum(count_parameters(module) for module in inverter.trainable)
    if isinstance(inverter, OptimizationInverter):  # hybrid: the encoder plus the latent per image
        count += int(torch.Size(inverter.generator.latent_shape).numel())
    return count


@dataclass
class Evaluation:
    rows: list[dict[str, Any]]
    reconstructions: dict[str, torch.Tensor]
    inputs: torch.Tensor


def evaluate(inverters: Mapping[str, Inverter], images: torch.Tensor, models: FrozenModels,
             trained: Trained | None = None, device: str = "cpu") -> Evaluation:
    """Invert the held-out ``images`` with every method: seconds per image (latents and rendering, on this
    device) and the metric set on the reconstructions."""
    rows, reconstructions = [], {}
    images = images.to(device)
    for name, inverter in inverters.items():
        # warm-up outside the timing (first calls allocate): a render, and a mapper or encoder's own pass
        inverter.render(inverter.generator.mean_latent[None])
        if not isinstance(inverter, OptimizationInverter):
            inverter(images[:1])
        # one-pass methods are timed as the best of 3 calls (a loaded machine only ever adds time);
        # optimisation and the hybrid once (they are long, and deterministic in their work)
        seconds = float("inf")
        for _ in range(1 if isinstance(inverter, OptimizationInverter) else 3):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            output = inverter(images)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = min(seconds, (time.perf_counter() - start) / len(images))
        reconstructions[name] = output.cpu()
        scores = reconstruction_scores(images.cpu(), output.cpu(), perceptual=models.lpips,
                                       classifier=models.classifier, heads=models.heads, clip=models.clip_bundle)
        rows.append({"method": name, "space": inverter.generator.space, **scores, "s/image": seconds,
                     "trainable parameters": trainable_parameters(inverter),
                     "train s (this run)": trained.seconds(name) if trained else None})
    return Evaluation(rows, reconstructions, images.cpu())


def results_table(evaluation: Evaluation, models: FrozenModels):
    """The metric set, one row per method, with the perceptual and CLIP models named in the headers. No
    profile column: ``run.table`` labels the saved and displayed table with the run's label."""
    import pandas as pd

    return pd.DataFrame(evaluation.rows).rename(columns={
        "mse": "MSE", "perceptual": models.labels["lpips"], "attributes": "attribute agreement",
        "clip_i": f"CLIP-I to input ({models.labels['clip']})"})


def records(frame: Any) -> list[dict[str, Any]]:
    """A table's rows for metrics.json: empty cells (NaN) as None, columns other than the profile label."""
    frame = frame.drop(columns=[c for c in ("profile",) if c in frame])
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def headline_metrics(kind: str, table: Any, quality: str) -> dict[str, float]:
    """A few scalars for metrics.json (the results overview): each method's perceptual distance, keyed
    ``<generator>/<method> <distance>``, and the one-pass methods' speed-up over optimisation."""
    rows = {r["method"]: r for r in table.to_dict("records")}
    slowest = max(r["s/image"] for r in rows.values())
    metrics = {f"{kind}/{name} {quality}": float(r[quality]) for name, r in rows.items()}
    metrics.update({f"{kind}/{name} speed-up over the slowest": slowest / max(r["s/image"], 1e-12)
                    for name, r in rows.items() if r["s/image"] < slowest})
    return metrics


def reconstruction_figure(evaluation: Evaluation, n: int = 6, title: str = ""):
    """Rows: input, then each method's reconstruction of the same held-out images."""
    import matplotlib.pyplot as plt

    rows = {"input": evaluation.inputs, **evaluation.reconstructions}
    n = min(n, len(evaluation.inputs))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n + 1.8, 1.25 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r][c].imshow(images[c].permute(1, 2, 0).clamp(0, 1).numpy())
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def latent_recovery(inverters: Mapping[str, Inverter], n: int, seed: int, device: str = "cpu"):
    """Known answers: images generated from seeded latents, inverted; the latent error of each method beside
    the mean latent's in the same space (a method that recovers nothing scores like the mean). StyleGAN2's
    z is compared as the w it maps to (its scale is invisible in the image)."""
    import pandas as pd

    rows = []
    for name, inverter in inverters.items():
        if isinstance(inverter, MeanLatent):
            continue
        space = inverter.generator
        true, images = space.sample(n, seed)
        true, predicted = space.identifiable(true), space.identifiable(inverter.latents(images.to(device)))
        error = float(latent_error(predicted, true).mean())
        mean_error = float(latent_error(space.identifiable_mean.expand_as(true), true).mean())
        compared_as_w = space.kind == "stylegan2" and space.space == "z"
        rows.append({"method": name, "space": "z (compared as w)" if compared_as_w else space.space,
                     "latent MSE": error, "mean-latent MSE": mean_error,
                     "ratio (<1: better than the mean)": error / mean_error})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# ToyHollyWood's bug


def bug_table(table: Any, trained: Trained):
    """The two ToyHollyWood mappers side by side: metrics and their last logged losses."""
    import pandas as pd

    names = ("ToyHollyWood mapper (as released)", "ToyHollyWood mapper (CLIP grad fixed)")
    rows = []
    for name in names:
        row = table[table["method"] == name].iloc[0].to_dict()
        last = trained.fits[name].result.history.last()
        rows.append({"clip_grad": name.endswith("fixed)"), **{k: row[k] for k in row if k != "space"},
                     **{f"final {k}": v for k, v in last.items() if k.startswith("clip")}})
    return pd.DataFrame(rows)


def bug_figure(trained: Trained):
    """CLIP loss terms over training, with and without their gradient (the released code: without)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for name, style in (("ToyHollyWood mapper (as released)", "--"), ("ToyHollyWood mapper (CLIP grad fixed)", "-")):
        series = trained.fits[name].result.history.series
        for ax, term in zip(axes, ("clip_cos", "loss")):
            if term in series:
                steps, values = series[term]
                ax.plot(steps, values, style, label=name.split("(")[1].rstrip(")"))
                ax.set_title(term, fontsize=9)
                ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# text -> image


def text_prompts(profile: str) -> tuple[list[str], str]:
    """The fixed prompt list and what it is: PopYou's four prompts in ``full``; offline, one avatar fact per
    prompt in the caption template ToonCLIP was trained on (PopYou's words are outside its vocabulary)."""
    if profile == "full":
        return ([fill(POPYOU_TEXT_TEMPLATE, text=t) for t in POPYOU_TEXT_PROMPTS],
                "PopYou's four prompts (its README)")
    from toonlab.data.captions import prompt

    return [prompt(slot, value) for slot, value in AVATAR_PROMPT_FACTS], "avatar attribute prompts (offline)"


def text_to_image(inverters: Mapping[str, Inverter], models: FrozenModels, prompts: Sequence[str],
                  prompt_kind: str, label: str):
    """PopYou's headline use: the CLIP text embedding through the mapper (PopYou mapper, CSLA's E_T), CLIP-T
    of the images with their prompts. PopYou's reported 0.31 is always its own row, with its protocol beside
    ours (our CLIP and prompts differ from PopYou's unstated ones even in ``full``)."""
    import pandas as pd

    rows, images = [], {}
    for name, inverter in inverters.items():
        if not hasattr(inverter, "from_text"):
            continue
        generated = inverter.from_text(prompts)
        images[name] = generated
        score = clip_t(models.clip_bundle, generated, list(prompts))
        rows.append({"method": name, "CLIP-T (ours)": score.mean, "source reported": "—", "profile": label,
                     "protocol": f"{len(prompts)} {prompt_kind}, one image each; CLIP: {models.labels['clip']}"})
    rows.append({"method": "PopYou (GAN + CLIP mapper)", "CLIP-T (ours)": None, "source reported": POPYOU_CLIP_T,
                 "profile": "as reported by PopYou",
                 "protocol": "300 names in 'funko pop figure of {name} in a white background'; OpenCLIP (model not "
                             "stated in the repository); FastGAN on 30k Funko images"})
    return pd.DataFrame(rows), images


def text_figure(images: Mapping[str, torch.Tensor], prompts: Sequence[str]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(images), len(prompts), figsize=(1.9 * len(prompts), 2.0 * len(images)), squeeze=False)
    for r, (name, batch) in enumerate(images.items()):
        for c, text in enumerate(prompts):
            axes[r][c].imshow(batch[c].permute(1, 2, 0).numpy())
            axes[r][c].axis("off")
            axes[r][c].set_title((f"{name}\n" if c == 0 else "\n") + text[:38], fontsize=6)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# the frontier and its bars


def frontier_figure(tables: Mapping[str, Any], quality: str):
    """Quality (``quality`` column, lower is better) against seconds per image, log scale, per generator."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.6), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items()):
        for _, row in table.iterrows():
            ax.scatter(max(row["s/image"], 1e-6), row[quality], s=22)
            ax.annotate(row["method"], (max(row["s/image"], 1e-6), row[quality]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("seconds per image (log)")
        ax.set_ylabel(f"{quality} (lower is better)")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


@dataclass
class Bar:
    name: str
    value: float
    threshold: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        return self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold


def frontier_bars(table: Any, quality: str, fast: str, optimisation: str, hybrid: str) -> list[Bar]:
    """The issue's bars on one generator's table: ``fast`` (a mapper or encoder) >= 100x faster than
    ``optimisation``; the hybrid closes >= 50 % of the ``quality`` gap between ``fast`` and optimisation,
    at <= 10 % of optimisation's time per image."""
    row = {r["method"]: r for r in table.to_dict("records")}
    for name in (fast, optimisation, hybrid):
        if name not in row:
            raise KeyError(f"frontier bars need method {name!r}; the table has {sorted(row)}")
    f, o, h = row[fast], row[optimisation], row[hybrid]
    gap = f[quality] - o[quality]
    closed = (f[quality] - h[quality]) / gap if gap > 0 else float("nan")
    return [Bar(f"speed-up of {fast} over {optimisation}", o["s/image"] / max(f["s/image"], 1e-12), 100.0),
            Bar(f"share of the {quality} gap closed by {hybrid}", closed, 0.5),
            Bar(f"{hybrid} time / {optimisation} time", h["s/image"] / o["s/image"], 0.10, higher_is_better=False)]


def bars_table(bars: Sequence[Bar]):
    import pandas as pd

    return pd.DataFrame([{"bar": b.name, "value": b.value,
                          "threshold": ("≥ " if b.higher_is_better else "≤ ") + f"{b.threshold:g}", "met": b.met}
                         for b in bars])


# ---------------------------------------------------------------------------------------------------
# face identity


def face_identity_table(evaluation: Evaluation, label: str):
    """dlib face-descriptor distance per method (faces only). Without dlib: a one-row table that says so."""
    import pandas as pd

    rows = []
    try:
        for name, output in evaluation.reconstructions.items():
            rows.append({"method": name, **face_identity(evaluation.inputs, output), "profile": label})
    except FaceIdentityUnavailable as error:
        return pd.DataFrame([{"method": "—", "note": str(error), "profile": label}])
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# the benchmark's record

BENCHMARK_FILE = "benchmark_frontier.txt"


def benchmark_command(profile: str) -> str:
    return f"python benchmarks/inversion_frontier.py --profile {profile}"


def benchmark_summary(profile: str) -> str:
    """The best recorded output of ``benchmarks/inversion_frontier.py`` (the reference profiles' first, then
    this profile's), as Markdown; or how to produce it."""
    return recorded_summary(CHAPTER, BENCHMARK_FILE, benchmark_command, profile)


__all__ = [
    "BENCHMARK_FILE", "Bar", "CHAPTER", "FrozenModels", "KINDS", "LoadedGenerator", "METHODS", "POPYOU_CLIP_T",
    "SOURCES", "TrainSettings", "Trained", "bars_table", "benchmark_command", "benchmark_summary", "bug_figure",
    "bug_table", "build_inverters", "build_models", "check_generators", "describe_generators", "device",
    "evaluate", "face_identity_table", "fingerprint", "frontier_bars", "frontier_figure", "headline_metrics",
    "latent_recovery", "load_generator", "load_images", "loss_figure", "method_table", "reconstruction_figure",
    "records", "results_table", "runs_root", "split", "text_figure", "text_prompts", "text_to_image",
    "train_methods",
]

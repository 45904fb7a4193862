"""Chapter 03's generators as the later chapters load them, from one of four sources.

* ``tiny``: chapter 03's tiny config with random weights from a seed (``ci``: checks the code path);
* ``registered``: chapter 03's committed ``cpu`` export (``data/weights``, sha256-checked via the registry);
* ``chapter03``: the export of chapter 03's run in this profile's cache (train it first);
* ``ffhq``: rosinality's FFHQ StyleGAN2 (config-f), the generator e4e, pSp and StyleCLIP used.

Chapters 05 (inversion) and 06 (editing) both take their generators from here, so that a run folder keyed
by a generator's ``identity`` means the same weights in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toonlab.gan.stylegan2 import ffhq_checkpoint
from toonlab.paths import cache_dir
from toonlab.train.gan_runs import GENERATOR_CLASSES, load_committed_generator, run_folder, scaled_preset
from toonlab.train.inversion_tasks import GeneratorExportError, load_generator_export

KINDS = ("fastgan", "stylegan2")
SOURCES = ("tiny", "registered", "chapter03", "ffhq")
# the chapter-03 preset each generator comes from: the runs chapter 03 trains (its default presets). PopYou's
# FastGAN is the same network (official FastGAN, 256-d z); only its training settings differ. The StyleGAN2 is
# our labelled change (the paper's Adam betas): the faithful preset mode-collapses at the cpu scale (presets.py).
PRESET_OF = {"fastgan": "toyhollywood_fastgan", "stylegan2": "toyhollywood_stylegan2_paper_adam"}
# data/registry.yaml `weights:` names of chapter 03's committed `cpu` exports (gan_<profile>_<preset>)
REGISTERED = {kind: f"gan_cpu_{preset}" for kind, preset in PRESET_OF.items()}


@dataclass(frozen=True)
class SourcedGenerator:
    network: torch.nn.Module  # in eval mode, on the requested device
    label: str  # what it is, for tables ("tiny random toyhollywood_fastgan (64 px, seed 0)", ...)
    identity: str  # what identifies its weights (run folders of later chapters are keyed by it)


def load_sourced_generator(kind: str, source: str, *, resolution: int, profile: str, data: str, seed: int,
                           device: str = "cpu") -> SourcedGenerator:
    """The ``kind`` generator ("fastgan" / "stylegan2") at ``resolution`` px from ``source`` (module doc).
    ``profile``, ``data`` and ``seed`` locate chapter 03's run (``chapter03``) or seed the tiny weights."""
    if kind not in KINDS:
        raise ValueError(f"unknown generator kind {kind!r}; choose one of {KINDS}")
    if source not in SOURCES:
        raise ValueError(f"unknown generator source {source!r}; choose one of {SOURCES}")
    preset_name = PRESET_OF[kind]
    if source == "tiny":
        preset = scaled_preset(preset_name, resolution, tiny=True)
        with torch.random.fork_rng(devices=[]):  # the caller's random stream stays where it was
            torch.manual_seed(seed)
            network = GENERATOR_CLASSES[kind][1](preset.model)
        return SourcedGenerator(network.to(device).eval(), f"tiny random {preset_name} ({resolution} px, seed {seed})",
                                f"tiny-{preset_name}-{resolution}-{seed}")
    if source == "registered":
        network, meta = load_committed_generator(REGISTERED[kind], kind=kind, resolution=resolution, device=device)
        return SourcedGenerator(network, f"chapter 03 `cpu` export {REGISTERED[kind]} ({resolution} px, "
                                         f"{meta.get('steps', '?')} steps)", f"{REGISTERED[kind]}-{meta['sha256'][:12]}")
    if source == "chapter03":
        preset = scaled_preset(preset_name, resolution)
        folder = run_folder(cache_dir("gan", profile), preset_name, preset, data, seed)
        network, meta = load_generator_export(
            folder / "generator.safetensors", kind=kind, resolution=resolution, device=device,
            command=f"python -m toonlab.book run --profile {profile} --chapters 03")
        return SourcedGenerator(network, f"chapter 03 `{profile}` run {preset_name} ({resolution} px, "
                                         f"{meta.get('steps', '?')} steps)", f"{folder.name}-{meta.get('steps')}")
    if kind != "stylegan2":
        raise ValueError("'ffhq' is a StyleGAN2 checkpoint; the FastGAN comes from 'tiny', 'registered' or 'chapter03'")
    network, _ = ffhq_checkpoint(device=device)
    if network.config.resolution != resolution:
        raise GeneratorExportError(f"the FFHQ StyleGAN2 makes {network.config.resolution} px images, but the "
                                   f"chapter asks for {resolution} px: set resolution to {network.config.resolution}")
    return SourcedGenerator(network, f"FFHQ StyleGAN2 (rosinality, {resolution} px)", "ffhq")

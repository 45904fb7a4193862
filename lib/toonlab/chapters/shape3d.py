"""Chapter 09 — from one toy image to 3D: Shap-E img2img, meshes, turntables and a fixed evaluation protocol.

What the chapter does: PopYou showed SyncDreamer / DreamGaussian pictures of a Funko figure turned into 3-D,
with no code and no numbers. Here one toy image is lifted with diffusers' ``ShapEImg2ImgPipeline`` to a
mesh (exported with trimesh) and a turntable, after the preprocessing users of Shap-E ask for (background
removal, centring, padding); and the result is measured with one fixed protocol (unit cube, Chamfer as the mean
nearest-neighbour distance, F@0.1/0.2, volume IoU, CLIP similarity of renders, seconds and memory) on an offline test bed of toy-like
figures whose true mesh is known. Published numbers sit beside ours in their own rows, protocol named.

The steps the notebook calls, in order:

* :func:`build_testbed`, :func:`testbed_figure` — toy figures from primitives, their clean and "photo" inputs;
* :func:`preprocessing_table` — GrabCut against the true silhouettes (mask IoU, seconds);
* :func:`known_answer_table` — the protocol on sphere/cube pairs beside the closed forms;
* :func:`load_clip`, :func:`baseline_table` — what protocol numbers mean: the truth against itself,
  its convex hull, its bounding box, a sphere and another toy (CLIP similarity of renders included);
* :func:`load_pipeline`, :func:`write_inputs`, :func:`lift_folder` — Shap-E over a folder with resume;
* :func:`evaluate_batch`, :func:`ablation_table`, :func:`selection_table` — the protocol on the lifted
  meshes: preprocessing on/off, best-of-k seeds by CLIP-I vs one seed at equal time;
* :func:`turntable_figure`, :func:`cost_table`, :func:`published_table`.

Composes :mod:`toonlab.shape3d` (lifting, meshes, renderer, toys, preprocessing, batch), :mod:`toonlab.zoo`
(Shap-E, CLIP) and :mod:`toonlab.metrics.shape3d` (the protocol) — no model code of its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import trimesh

from toonlab import zoo
from toonlab.metrics.shape3d import (Protocol, clip_view_similarity, compare_meshes, measure_call,
                                     shifted_cube_known_answer, sphere_known_answer)
from toonlab.paths import cache_dir
from toonlab.shape3d import preprocess, testbed
from toonlab.shape3d.batch import BatchJob, BatchReport, list_images, read_manifest, run_batch
from toonlab.shape3d.lift import LiftSettings, lift, weights_digest
from toonlab.shape3d.meshes import load_mesh
from toonlab.shape3d.render import INPUT_CAMERA, render, turntable
from toonlab.shape3d.toys import TOYS

CHAPTER = "09_3d"
# What "Chamfer" means in our tables (papers use the word for different quantities, see metrics.shape3d)
CHAMFER = "Chamfer (mean Euclidean NN distance, ½ both ways)"
CHAMFER_SQUARED = "Chamfer² (mean squared NN distance, ½ both ways)"
SHAP_E = "shap_e_img2img"

# SPAR3D (Huang et al. 2025), Table 1 on Google Scanned Objects: their protocol, not ours (their alignment,
# sampling and scale); shown in their own rows, never in a column beside our numbers.
PUBLISHED = [
    {"method": "Shap-E", "Chamfer": 0.204, "F@0.1": 0.359, "seconds / object": 3.1},
    {"method": "TripoSR", "Chamfer": 0.145, "F@0.1": 0.501, "seconds / object": 0.2},
    {"method": "InstantMesh", "Chamfer": 0.135, "F@0.1": 0.545, "seconds / object": 36.0},
]
PUBLISHED_PROTOCOL = "SPAR3D Table 1: GSO, their normalisation and alignment, GPU timing"


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------------------------------------------
# test bed and preprocessing


def build_testbed(names: Sequence[str], size: int, seed: int) -> list[testbed.Case]:
    unknown = [n for n in names if n not in TOYS]
    if unknown:
        raise ValueError(f"unknown toys {unknown}; the test bed has {sorted(TOYS)}")
    return testbed.build(tuple(names), size, seed)


def testbed_figure(cases: Sequence[testbed.Case], background: str):
    """Per toy: the clean input, the "photo", and the photo after background removal + centring + padding."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(cases), figsize=(2.2 * len(cases), 6.6), squeeze=False)
    for column, case in enumerate(cases):
        prepared = preprocess.prepare(case.photo, background, case.photo.width)
        for row, (image, title) in enumerate([(case.clean, f"{case.name}: clean render"),
                                              (case.photo, "photo"), (prepared.image, f"{background} + centre")]):
            axes[row, column].imshow(image)
            axes[row, column].set_title(title, fontsize=8)
            axes[row, column].axis("off")
    fig.tight_layout()
    return fig


def preprocessing_table(cases: Sequence[testbed.Case], method: str = "grabcut") -> pd.DataFrame:
    """Mask IoU of the background removal against the true silhouette, and its seconds per image."""
    rows = []
    for case in cases:
        start = time.perf_counter()
        mask = preprocess.segment(case.photo, method)
        seconds = time.perf_counter() - start
        rows.append({"toy": case.name, "method": method, "mask IoU": preprocess.mask_iou(mask, case.photo_mask),
                     "object share of photo": float(case.photo_mask.mean()), "seconds": seconds})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# the protocol: known answers and reference points


def known_answer_table(n_points: int, seed: int = 0) -> pd.DataFrame:
    """Measured vs closed form on raw coordinates (no normalisation or alignment), N surface points."""
    raw = Protocol(n_points=n_points, normalize=False, align_yaws=1, seed=seed)
    unit = trimesh.creation.box(bounds=[[0, 0, 0], [1, 1, 1]])
    shift = 0.3
    # s = 1.15 keeps |s - 1| r = 0.15 away from both thresholds (at exactly tau, sampling decides F)
    pairs = [("sphere r=1 vs r=1.15", trimesh.creation.icosphere(5, radius=1.0), trimesh.creation.icosphere(5, radius=1.15),
              lambda tau: sphere_known_answer(1.0, 1.15, tau)),
             (f"unit cube vs shifted by {shift}", unit, trimesh.creation.box(bounds=[[shift, 0, 0], [1 + shift, 1, 1]]),
              lambda tau: shifted_cube_known_answer(shift, tau))]
    rows = []
    for name, a, b, closed in pairs:
        measured = compare_meshes(a, b, raw)
        for metric, key in ((CHAMFER, "chamfer"), ("F@0.1", "f@0.1"), ("F@0.2", "f@0.2"),
                            ("volume IoU", "volume_iou")):
            tau = 0.2 if key == "f@0.2" else 0.1
            expected = closed(tau)["f" if key.startswith("f@") else key]
            rows.append({"pair": name, "metric": metric, "closed form": expected, "measured": measured[key],
                         "difference": measured[key] - expected, "surface samples": n_points})
    return pd.DataFrame(rows)


def load_clip(profile: str, device: str):
    """The CLIP that scores renders against inputs (the zoo's ``clip`` role: ToonCLIP offline)."""
    return zoo.load("clip", profile, device=device)


def _reference_meshes(case: testbed.Case, other: trimesh.Trimesh) -> dict[str, trimesh.Trimesh]:
    truth = case.mesh
    return {"truth (resampled)": truth, "convex hull": truth.convex_hull,
            "bounding box": trimesh.creation.box(bounds=truth.bounds),
            "sphere": trimesh.creation.icosphere(3, radius=float(np.max(truth.extents)) / 2), "another toy": other}


def baseline_table(cases: Sequence[testbed.Case], clip: Any, protocol: Protocol, render_size: int) -> pd.DataFrame:
    """The protocol on reference "reconstructions" of each toy, so its numbers have a scale."""
    rows = []
    for index, case in enumerate(cases):
        other = cases[(index + 1) % len(cases)].mesh if len(cases) > 1 else trimesh.creation.box()
        for name, mesh in _reference_meshes(case, other).items():
            record = compare_meshes(case.mesh, mesh, protocol)
            record.update(clip_view_similarity(clip, case.clean, mesh, render_size))
            rows.append({"toy": case.name, "reconstruction": name, **_columns(record)})
    return pd.DataFrame(rows)


def _columns(record: dict[str, Any]) -> dict[str, Any]:
    out = {CHAMFER: record["chamfer"], CHAMFER_SQUARED: record["chamfer_squared"], "F@0.1": record["f@0.1"], "F@0.2": record["f@0.2"],
           "volume IoU": "not watertight" if record["volume_iou"] is None else record["volume_iou"]}
    for key in ("clip_front", "clip_around"):
        if key in record:
            out["CLIP front" if key == "clip_front" else "CLIP around (8)"] = record[key]
    return out


# ---------------------------------------------------------------------------------------------------
# lifting


def load_pipeline(profile: str, device: str):
    return zoo.load(SHAP_E, profile, device=device)


def write_inputs(cases: Sequence[testbed.Case], profile: str, kind: str = "photo", bad_inputs: bool = False) -> Path:
    """The cases' input images (``kind``: photo | clean) as a folder of PNGs in the cache — what the batch
    lifts. ``bad_inputs`` adds a blank image (nothing to segment) and a greyscale one (not RGB), which the
    batch must record as failures and go on."""
    from PIL import Image

    names = "-".join(case.name for case in cases)
    folder = cache_dir("shape3d", profile, f"inputs-{kind}-{names}{'-bad' if bad_inputs else ''}")
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        target = folder / f"{case.name}.png"
        if not target.is_file():
            getattr(case, kind).save(target)
    if bad_inputs:
        size = cases[0].clean.size if cases else (64, 64)
        Image.new("RGB", size, (255, 255, 255)).save(folder / "zz_blank.png")
        Image.new("L", size, 128).save(folder / "zz_grey.png")
    return folder


def load_pairs(folder: str | Path) -> list[testbed.Case]:
    """(image, mesh) pairs from a folder — ``name.png|jpg`` with ``name.obj|ply|glb`` (e.g. Google Scanned
    Objects renders the user downloaded) — as test-bed cases for the same protocol."""
    from PIL import Image

    cases = []
    for image_path in list_images(folder):
        mesh_path = next((image_path.with_suffix(f".{fmt}") for fmt in ("obj", "ply", "glb")
                          if image_path.with_suffix(f".{fmt}").is_file()), None)
        if mesh_path is None:
            continue
        with Image.open(image_path) as handle:
            image = preprocess.check_rgb(handle.convert("RGBA") if handle.mode in ("LA", "P") else handle.copy())
        cases.append(testbed.Case(image_path.stem, load_mesh(mesh_path), image, image,
                                  np.ones(image.size[::-1], dtype=bool)))
    if not cases:
        raise FileNotFoundError(f"no (image, mesh) pairs in {folder}: name them like chair.png + chair.obj")
    return cases


def lift_settings(**values: Any) -> LiftSettings:
    return LiftSettings(**values)


def lift_folder(pipe: Any, folder: str | Path, profile: str, settings: LiftSettings, *, seeds: Sequence[int],
                background: str, formats: Sequence[str], size: int, device: str, progress: bool = True,
                out: str | Path | None = None) -> BatchReport:
    """Lift every image in ``folder`` for every seed (resumes in a folder keyed by the whole job)."""
    model = f"{zoo.describe(SHAP_E, profile)} [weights {weights_digest(pipe)}]"
    job = BatchJob(model, settings, tuple(seeds), tuple(formats), background, size)
    out = Path(out) if out else cache_dir("shape3d", profile, "lifted", f"{Path(folder).name}-{job.fingerprint()}")

    def lift_fn(image, seed):
        lifted, cost = measure_call(lambda: lift(pipe, image, seed, settings), device)
        return lifted, cost.as_dict()

    return run_batch(list_images(folder), out, job, lift_fn, progress=progress)


def _output(report: BatchReport, record: dict[str, Any], suffix: str, why: str) -> Path:
    """The ``suffix`` file a batch record lists, or a clear error saying how to get one."""
    path = next((report.folder / f for f in record.get("files", []) if f.endswith(suffix)), None)
    if path is None or not path.is_file():
        raise FileNotFoundError(f"{record['key']} in {report.folder} has no {suffix} file ({why}): lift it with "
                                f"formats including {suffix.lstrip('.')!r}" + (" and turntable on" if suffix == ".gif" else "")
                                + ", into a new folder")
    return path


def evaluate_batch(report: BatchReport, cases: Sequence[testbed.Case], clip: Any, protocol: Protocol,
                   render_size: int, variant: str) -> pd.DataFrame:
    """The protocol for every lifted (object, seed) of a batch against the true meshes; failures kept."""
    from PIL import Image

    truth = {case.name: case for case in cases}
    rows = []
    for record in sorted(report.records, key=lambda r: r["key"]):
        case = truth.get(record["object"])
        if case is None:
            continue
        row = {"variant": variant, "toy": record["object"], "seed": record["seed"], "status": record["status"],
               "seconds": record.get("seconds"), "peak memory (MiB)": record.get("peak_memory_mib")}
        if record["status"] == "ok":
            mesh = load_mesh(_output(report, record, ".ply", "the protocol scores the .ply"))
            measured = compare_meshes(case.mesh, mesh, protocol)
            # CLIP against what was lifted (the preprocessed input), not the clean render: selection by
            # CLIP-I must use only what a user has
            with Image.open(report.folder / f"{record['object']}/seed{record['seed']}_input.png") as handle:
                measured.update(clip_view_similarity(clip, handle.convert("RGB"), mesh, render_size))
            row.update(_columns(measured), faces=len(mesh.faces))
        else:
            row.update(failure=record.get("failure", "failed"), error=record["error"])
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_unpaired(report: BatchReport, clip: Any, render_size: int, variant: str) -> pd.DataFrame:
    """For images without a true mesh (generated Funko figures, DreamBench toys): only what needs no truth —
    CLIP similarity of the exported mesh's renders with the lifted input, seconds, memory; failures kept."""
    from PIL import Image

    rows = []
    for record in sorted(report.records, key=lambda r: r["key"]):
        row = {"variant": variant, "object": record["object"], "seed": record["seed"], "status": record["status"],
               "seconds": record.get("seconds"), "peak memory (MiB)": record.get("peak_memory_mib")}
        if record["status"] == "ok":
            mesh = load_mesh(_output(report, record, ".ply", "the renders are of the .ply"))
            with Image.open(report.folder / f"{record['object']}/seed{record['seed']}_input.png") as handle:
                scores = clip_view_similarity(clip, handle.convert("RGB"), mesh, render_size)
            row.update({"CLIP front": scores["clip_front"], "CLIP around (8)": scores["clip_around"],
                        "faces": len(mesh.faces)})
        else:
            row.update(failure=record.get("failure", "failed"), error=record["error"])
        rows.append(row)
    return pd.DataFrame(rows)


METRICS = [CHAMFER, CHAMFER_SQUARED, "F@0.1", "F@0.2", "CLIP front", "CLIP around (8)", "seconds"]


def ablation_table(evaluations: dict[str, pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """Mean protocol numbers per preprocessing variant (seed ``seed`` only, so variants compare alike)."""
    rows = []
    for variant, frame in evaluations.items():
        ok = frame[(frame["status"] == "ok") & (frame["seed"] == seed)]
        row = {"variant": variant, "objects": int((frame["seed"] == seed).sum()), "failed": int(
            ((frame["status"] != "ok") & (frame["seed"] == seed)).sum())}
        row.update({m: float(ok[m].mean()) if len(ok) else None for m in METRICS})
        rows.append(row)
    return pd.DataFrame(rows)


def select_best(frame: pd.DataFrame) -> pd.DataFrame:
    """Per toy, the seed whose renders best match the input: the highest mean of CLIP front and around."""
    ok = frame[frame["status"] == "ok"].copy()
    ok["CLIP-I (9 views)"] = (ok["CLIP front"] + 8 * ok["CLIP around (8)"]) / 9
    return ok.loc[ok.groupby("toy")["CLIP-I (9 views)"].idxmax()]


def selection_table(multi: pd.DataFrame, single_long: pd.DataFrame, k: int, seed: int = 0) -> pd.DataFrame:
    """Best-of-k seeds by CLIP-I vs seed ``seed`` alone vs one seed with k× the steps (about the same time)."""
    best = select_best(multi)
    spent = multi[multi["status"] == "ok"].groupby("toy")["seconds"].sum()
    rows = []
    for name, frame, seconds in [
            (f"best of {k} seeds by CLIP-I", best, spent.reindex(best["toy"]).values),
            (f"seed {seed} alone", multi[(multi["seed"] == seed) & (multi["status"] == "ok")], None),
            (f"one seed, {k}× steps (equal budget)", single_long[single_long["status"] == "ok"], None)]:
        row = {"strategy": name, "objects": len(frame)}
        row.update({m: float(frame[m].mean()) if len(frame) else None for m in METRICS[:-1]})
        row["seconds / object"] = float(np.mean(seconds)) if seconds is not None else float(frame["seconds"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# figures and tables


def turntable_figure(report: BatchReport, case: testbed.Case, n: int = 6, render_size: int = 128):
    """One lifted toy: its input, Shap-E's own turntable frames and our renders of the exported mesh."""
    import matplotlib.pyplot as plt
    from PIL import Image

    record = next(r for r in sorted(report.records, key=lambda r: r["key"])
                  if r["object"] == case.name and r["status"] == "ok")
    with Image.open(_output(report, record, ".gif", "the figure shows Shap-E's turntable")) as handle:
        frames = []
        for index in range(handle.n_frames):
            handle.seek(index)
            frames.append(handle.convert("RGB"))
    mesh = load_mesh(_output(report, record, ".ply", "the figure renders the exported mesh"))
    ours = turntable(mesh, n, render_size)
    step = max(1, len(frames) // n)
    fig, axes = plt.subplots(2, n + 1, figsize=(1.6 * (n + 1), 3.4), squeeze=False)
    axes[0, 0].imshow(Image.open(report.folder / f"{case.name}/seed{record['seed']}_input.png"))
    axes[0, 0].set_title("input", fontsize=7)
    axes[1, 0].imshow(render(case.mesh, INPUT_CAMERA, render_size))
    axes[1, 0].set_title("true mesh", fontsize=7)
    for i in range(n):
        axes[0, i + 1].imshow(frames[(i * step) % len(frames)])
        axes[0, i + 1].set_title("Shap-E frame" if i == 0 else "", fontsize=7)
        axes[1, i + 1].imshow(ours[i])
        axes[1, i + 1].set_title("exported mesh" if i == 0 else "", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def real_size_cost(device: str, *, steps: int, measured_steps: int, grid_size: int, seed: int = 0,
                   config: Any = None) -> pd.DataFrame:
    """An *estimate* of what one lift costs at Shap-E's real size with random weights, timed part by part:

    * the image encoding (CLIP ViT-L/14, once per lift — not scaled), timed after a warm-up call;
    * one prior call (the classifier-free-guidance batch of 2), timed over ``measured_steps`` (≥ 2) calls after
      a warm-up call, and scaled to the 2n − 1 prior calls of n Heun steps;
    * the mesh decoding at ``grid_size``³, timed once after a warm-up decoding on a small grid.

    Timing a single cold call and multiplying it by 127 (an earlier version) counted one-off start-up costs
    127 times. The 1-minute load average is recorded with the table: on a shared machine it scales the wall
    clock. ``config``: the Shap-E size (default: the real one; tests pass a tiny one)."""
    import os

    from toonlab.zoo.shap_e import REAL_SIZE, tiny_shap_e_img2img

    config = config or REAL_SIZE

    if measured_steps < 2:
        raise ValueError(f"cost_measured_steps must be at least 2 (got {measured_steps}): one call is not a rate")
    pipe = tiny_shap_e_img2img(config, seed=seed, device=device)
    image = testbed.build(("funko",), config.image_size, seed)[0].clean
    # Heun evaluates the prior twice per step but once on the last: 2n - 1 calls for n steps
    pipe.scheduler.set_timesteps(steps)
    calls = len(pipe.scheduler.timesteps)
    generator = torch.Generator("cpu").manual_seed(seed)
    n_embeddings, width = pipe.prior.config.num_embeddings, pipe.prior.config.embedding_dim
    load_before = os.getloadavg()[0]
    with torch.no_grad():
        pipe._encode_image(image, device, 1, True)  # warm-up
        embeds, encode = measure_call(lambda: pipe._encode_image(image, device, 1, True), device)
        noisy = torch.randn((2, n_embeddings, width), generator=generator).to(device, embeds.dtype)
        timestep = pipe.scheduler.timesteps[0]

        def prior_call():
            return pipe.prior(noisy, timestep=timestep, proj_embedding=embeds).predicted_image_embedding

        prior_call()  # warm-up
        _, prior = measure_call(lambda: [prior_call() for _ in range(measured_steps)], device)
        latent = torch.randn((1, n_embeddings, width), generator=generator).to(device, embeds.dtype)
        pipe.shap_e_renderer.decode_to_mesh(latent, device, grid_size=16)  # warm-up
        mesh, decode = measure_call(lambda: pipe.shap_e_renderer.decode_to_mesh(latent, device, grid_size=grid_size),
                                    device)
    load = f"{load_before:.2f} → {os.getloadavg()[0]:.2f}"
    parameters = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
                  for name in ("prior", "image_encoder", "shap_e_renderer")}
    per_call = prior.seconds / measured_steps
    rows = [{"part": "image encoder, once per lift (after a warm-up)", "seconds measured": encode.seconds,
             "seconds for a lift (estimate)": encode.seconds, "peak memory (MiB)": encode.peak_memory_mib,
             "parameters (M)": parameters["image_encoder"] / 1e6},
            {"part": f"prior, {measured_steps} calls timed after a warm-up, × {calls} calls for {steps} Heun steps",
             "seconds measured": prior.seconds, "seconds for a lift (estimate)": per_call * calls,
             "peak memory (MiB)": prior.peak_memory_mib, "parameters (M)": parameters["prior"] / 1e6},
            {"part": f"mesh decoding, {grid_size}³ SDF grid ({len(mesh.faces):,} faces), after a warm-up",
             "seconds measured": decode.seconds, "seconds for a lift (estimate)": decode.seconds,
             "peak memory (MiB)": decode.peak_memory_mib, "parameters (M)": parameters["shap_e_renderer"] / 1e6}]
    table = pd.DataFrame(rows)
    table["memory kind"] = prior.memory_kind
    table["device"] = device
    table["load average (1 min, before → after)"] = load
    del pipe
    return table


def cost_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for variant, frame in frames.items():
        ok = frame[frame["status"] == "ok"]
        rows.append({"job": variant, "objects": len(ok), "seconds / object (mean)": float(ok["seconds"].mean()),
                     "seconds / object (max)": float(ok["seconds"].max()),
                     "peak memory (MiB, max)": float(ok["peak memory (MiB)"].max())})
    return pd.DataFrame(rows)


def published_table(ours: dict[str, Any] | None, label: str, protocol: Protocol) -> pd.DataFrame:
    """SPAR3D's published rows and ours, each with the protocol that produced it (never mixed in a row)."""
    rows = [{**row, "F@0.2": "not transcribed", "who measured": "SPAR3D (published)", "protocol": PUBLISHED_PROTOCOL}
            for row in PUBLISHED]
    if ours:
        rows.append({"method": f"Shap-E ({label})", **ours, "who measured": label,
                     "protocol": f"{protocol.describe()}; toy test bed, not GSO"})
    return pd.DataFrame(rows)[["method", "who measured", "protocol", "Chamfer", "F@0.1", "F@0.2", "seconds / object"]]


def job_summary(report: BatchReport) -> dict[str, Any]:
    return {"folder": str(report.folder), "lifted now": report.done, "resumed (skipped)": report.skipped,
            "failed now": report.failed, "records": len(report.records)}


__all__ = [
    "CHAMFER", "CHAMFER_SQUARED", "CHAPTER", "PUBLISHED", "Protocol", "SHAP_E", "ablation_table", "baseline_table", "build_testbed", "cost_table",
    "device", "evaluate_batch", "evaluate_unpaired", "job_summary", "known_answer_table", "lift_folder", "lift_settings", "load_clip",
    "load_pairs", "load_pipeline", "preprocessing_table", "real_size_cost", "published_table", "read_manifest", "replace", "select_best",
    "selection_table", "testbed_figure", "turntable_figure", "write_inputs",
]

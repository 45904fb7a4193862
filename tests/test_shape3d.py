"""Image → 3D: the tiny Shap-E pipeline and its derived marching-cubes table, lifting determinism, mesh
export, the renderer, preprocessing and its bad inputs, and the resumable batch (fault injection)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from toonlab import zoo
from toonlab.shape3d import batch, preprocess, testbed
from toonlab.shape3d.lift import LiftSettings, lift
from toonlab.shape3d.meshes import MeshError, export_mesh, load_mesh
from toonlab.shape3d.render import Camera, render
from toonlab.zoo.shap_e import marching_cubes_table

FAST = LiftSettings(steps=2, grid_size=24, frame_size=32, n_coarse=2, n_fine=2)


@pytest.fixture(scope="module")
def pipe():
    return zoo.load("shap_e_img2img", "ci")


@pytest.fixture(scope="module")
def cases():
    return testbed.build(("funko", "robot"), size=96, seed=0)


def decode_field(pipe, field: torch.Tensor) -> trimesh.Trimesh:
    """Run diffusers' MeshDecoder on a field padded like decode_to_mesh does (-1 border)."""
    renderer = pipe.shap_e_renderer
    padded = torch.full([s + 2 for s in field.shape], -1.0)
    padded[1:-1, 1:-1, 1:-1] = field
    out = renderer.mesh_decoder(padded, renderer.volume.bbox_min, renderer.volume.bbox_max - renderer.volume.bbox_min)
    return trimesh.Trimesh(out.verts.numpy(), out.faces.numpy())


def grid(n: int = 48) -> tuple[torch.Tensor, float]:
    lin = torch.linspace(-1, 1, n)
    x, y, z = torch.meshgrid(lin, lin, lin, indexing="ij")
    # decode_to_mesh maps the padded (n + 2)-grid onto [-1, 1]: coordinates shrink by (n - 1) / (n + 1)
    return torch.stack([x, y, z], -1), (n - 1) / (n + 1)


def test_marching_cubes_table_meshes_a_sphere_closed_and_outward(pipe):
    points, shrink = grid()
    mesh = decode_field(pipe, 0.6 - points.norm(dim=-1))
    assert mesh.is_watertight and mesh.volume > 0  # closed, normals outwards
    radius = 0.6 * shrink
    assert np.linalg.norm(mesh.vertices, axis=1).mean() == pytest.approx(radius, rel=0.01)
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * radius ** 3, rel=0.03)


def test_marching_cubes_table_meshes_a_torus_with_its_hole(pipe):
    points, shrink = grid()
    ring = torch.sqrt(points[..., 0] ** 2 + points[..., 1] ** 2) - 0.5
    mesh = decode_field(pipe, 0.2 - torch.sqrt(ring ** 2 + points[..., 2] ** 2))
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.euler_number == 0  # genus one: the hole is kept
    assert mesh.volume == pytest.approx(2 * math.pi ** 2 * 0.5 * 0.2 ** 2 * shrink ** 3, rel=0.05)


@pytest.mark.parametrize("seed", [0, 1])
def test_marching_cubes_table_keeps_a_random_noise_field_closed(pipe, seed):
    # every corner pattern, ambiguous ones included, occurs in uniform noise: an inconsistent choice between
    # two neighbouring cubes would leave a hole or flip a face
    field = torch.rand((12, 12, 12), generator=torch.Generator().manual_seed(seed)) - 0.5
    mesh = decode_field(pipe, field)
    assert mesh.is_watertight and mesh.is_winding_consistent
    box = (2 * 11 / 13) ** 3  # the 12-grid's cell centres span (n - 1) / (n + 1) of [-1, 1] per axis
    inside = float((field > 0).float().mean())
    assert mesh.volume == pytest.approx(inside * box, rel=0.2)  # positive (outward) and about the inside share


def test_marching_cubes_table_layout():
    cases, masks = marching_cubes_table()
    assert cases.shape == (256, 5, 3) and masks.shape == (256, 5)
    assert not masks[0].any() and not masks[255].any()
    assert masks[1:255].any(dim=1).all()  # every mixed corner pattern has a surface
    assert int(masks[1].sum()) == 1  # one corner inside: one triangle
    assert cases.max() <= 11


def test_pretrained_shap_e_fails_at_once_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsMissingError, match="openai/shap-e-img2img"):
        zoo.load("shap_e_img2img", "full")
    assert time.perf_counter() - start < 10
    assert "tiny random Shap-E" in zoo.describe("shap_e_img2img", "ci")


def test_lift_is_deterministic_per_seed_and_yields_a_mesh_and_frames(pipe, cases):
    a = lift(pipe, cases[0].clean, 3, FAST)
    b = lift(pipe, cases[0].clean, 3, FAST)
    c = lift(pipe, cases[0].clean, 4, FAST)
    assert len(a.mesh.faces) > 0 and a.mesh.is_watertight
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    assert [np.asarray(f).tobytes() for f in a.frames] == [np.asarray(f).tobytes() for f in b.frames]
    assert len(a.frames) == 19 and a.frames[0].size == (32, 32)
    assert a.mesh.vertices.shape != c.mesh.vertices.shape or not np.array_equal(a.mesh.vertices, c.mesh.vertices)
    assert a.mesh.visual.vertex_colors.shape == (len(a.mesh.vertices), 4)


def test_lift_settings_refuse_frame_sizes_the_renderer_cannot_draw():
    with pytest.raises(ValueError, match="multiple of 32"):
        LiftSettings(frame_size=48)


def test_an_empty_reconstruction_is_a_mesh_error(pipe, cases, monkeypatch):
    renderer = pipe.shap_e_renderer
    bias = renderer.mlp.mlp[-1].bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias[0] = -50.0  # the SDF is negative (outside) everywhere
    try:
        with pytest.raises(MeshError, match="empty reconstruction"):
            lift(pipe, cases[0].clean, 0, LiftSettings(steps=1, grid_size=16, turntable=False))
    finally:
        with torch.no_grad():
            bias.copy_(saved)


@pytest.mark.parametrize("fmt", ["ply", "glb", "obj"])
def test_export_round_trips(fmt, tmp_path):
    mesh = testbed.toy("robot")
    path = export_mesh(mesh, tmp_path / f"robot.{fmt}")
    back = load_mesh(path)
    assert back.area == pytest.approx(mesh.area, rel=1e-4)
    assert not list(tmp_path.glob("*.tmp"))


def test_export_refuses_unknown_formats_and_empty_meshes(tmp_path):
    with pytest.raises(MeshError, match="unknown format 'stl'.*\\.ply, \\.glb, \\.obj"):
        export_mesh(testbed.toy("robot"), tmp_path / "robot.stl")
    empty = trimesh.Trimesh(vertices=np.zeros((4, 3)), faces=np.zeros((0, 3), dtype=int))
    with pytest.raises(MeshError, match="no faces"):
        export_mesh(empty, tmp_path / "empty.ply")
    assert not list(tmp_path.iterdir())


def test_render_draws_a_sphere_with_its_projected_area():
    sphere = trimesh.creation.icosphere(4, radius=0.5)
    camera = Camera(0, 0, distance=3.0, fov_deg=40)
    _, mask = render(sphere, camera, 128, normalize=False, return_mask=True)
    # a sphere of radius r at distance D subtends a disc of angular radius asin(r / D)
    disc = math.tan(math.asin(0.5 / 3.0)) / math.tan(math.radians(20)) * 64
    assert mask.sum() == pytest.approx(math.pi * disc ** 2, rel=0.03)
    rows, cols = np.nonzero(mask)
    assert rows.mean() == pytest.approx(63.5, abs=0.5) and cols.mean() == pytest.approx(63.5, abs=0.5)


def test_preprocessing_bad_inputs_are_named():
    with pytest.raises(preprocess.PreprocessError, match="mode 'L', not RGB.*convert\\('RGB'\\)"):
        preprocess.check_rgb(Image.new("L", (8, 8)))
    with pytest.raises(preprocess.PreprocessError, match="mask is empty"):
        preprocess.center_and_pad(Image.new("RGB", (16, 16)), np.zeros((16, 16), bool))
    with pytest.raises(preprocess.PreprocessError, match="unknown background method"):
        preprocess.segment(Image.new("RGB", (16, 16)), "magic")
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert preprocess.check_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)  # transparent → white


def test_grabcut_finds_the_figure_and_centring_centres_it(cases):
    case = cases[0]
    mask = preprocess.grabcut_mask(case.photo)
    assert preprocess.mask_iou(mask, case.photo_mask) > 0.9
    prepared = preprocess.prepare(case.photo, "grabcut", size=100, fill=0.8)
    drawn = (np.asarray(prepared.image) < 250).any(axis=-1)
    rows, cols = np.nonzero(drawn)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 == pytest.approx(80, abs=2)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(49.5, abs=1.5)
    assert (cols.min() + cols.max()) / 2 == pytest.approx(49.5, abs=1.5)


# ---------------------------------------------------------------------------------------------------
# the batch: resume, failures recorded, kills


def folder_of_inputs(tmp_path, cases, bad: bool = True):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for case in cases:
        case.photo.save(folder / f"{case.name}.png")
    if bad:
        Image.new("RGB", (96, 96), (255, 255, 255)).save(folder / "blank.png")
        Image.new("L", (96, 96), 128).save(folder / "grey.png")
        (folder / "broken.png").write_bytes(b"not a png")
    return folder


def make_lift_fn(pipe, settings=FAST, interrupt_after: int | None = None):
    calls = []

    def lift_fn(image, seed):
        if interrupt_after is not None and len(calls) >= interrupt_after:
            raise KeyboardInterrupt("simulated kill")
        calls.append(seed)
        return lift(pipe, image, seed, settings), {"seconds": 0.0}

    return lift_fn, calls


def test_batch_records_bad_inputs_and_goes_on(pipe, cases, tmp_path):
    folder = folder_of_inputs(tmp_path, cases)
    job = batch.BatchJob("tiny", FAST, seeds=(0,), formats=("ply",), size=96)
    lift_fn, _ = make_lift_fn(pipe)
    report = batch.run_batch(batch.list_images(folder), tmp_path / "out", job, lift_fn, progress=False)
    status = {r["object"]: r for r in report.records}
    assert status["funko"]["status"] == status["robot"]["status"] == "ok"
    assert "mask is empty" in status["blank"]["error"]
    assert "not RGB" in status["grey"]["error"]
    assert "cannot read broken.png as an image" in status["broken"]["error"]
    assert {status[name]["failure"] for name in ("blank", "grey", "broken")} == {"bad input"}
    assert not any("Error" in status[name]["error"] for name in ("blank", "grey", "broken"))  # words, no class names
    assert report.failed == 3 and report.done == 2
    assert (tmp_path / "out" / "funko" / "seed0.ply").is_file() and (tmp_path / "out" / "funko" / "seed0.gif").is_file()


def test_batch_job_refuses_unknown_formats():
    with pytest.raises(MeshError, match="unknown mesh format"):
        batch.BatchJob("tiny", FAST, formats=("ply", "fbx"))


def test_prepare_without_background_removal_pads_instead_of_stretching():
    wide = Image.new("RGB", (40, 20), (200, 30, 30))
    prepared = preprocess.prepare(wide, "none", size=32)
    pixels = np.asarray(prepared.image)
    assert prepared.image.size == (32, 32)
    assert (pixels[:6] == 255).all() and (pixels[-6:] == 255).all()  # white bands above and below
    assert tuple(pixels[16, 16]) == (200, 30, 30)


def never_called(image, seed):
    raise AssertionError("the batch must refuse before lifting anything")


def test_batch_refuses_a_folder_of_another_job(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "a.png")
    out = tmp_path / "out"
    first = batch.BatchJob("tiny", FAST, seeds=(0,), formats=("ply",), size=96)
    batch.run_batch([], out, first, never_called, progress=False)  # claims the folder, lifts nothing
    batch.run_batch(batch.list_images(folder)[:0], out, first, never_called, progress=False)  # same job: fine
    other = batch.BatchJob("tiny", FAST, seeds=(0, 1), formats=("ply",), size=96)
    with pytest.raises(batch.BatchError, match="another lifting job.*seeds"):
        batch.run_batch(batch.list_images(folder), out, other, never_called, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / batch.MANIFEST).write_text("")
    with pytest.raises(batch.BatchError, match="no job.json"):
        batch.run_batch(batch.list_images(folder), foreign, first, never_called, progress=False)


def test_batch_refuses_images_whose_names_differ_only_in_suffix(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "a.png")
    Image.new("RGB", (32, 32)).save(folder / "a.jpg")
    Image.new("RGB", (32, 32)).save(folder / "b.png")
    job = batch.BatchJob("tiny", FAST, seeds=(0,), formats=("ply",), size=96)
    with pytest.raises(batch.BatchError, match=r"same name.*'a'"):
        batch.run_batch(batch.list_images(folder), tmp_path / "out", job, never_called, progress=False)
    assert not (tmp_path / "out").exists()


def test_batch_resumes_after_an_interruption_without_duplicates_or_losses(pipe, cases, tmp_path):
    folder = folder_of_inputs(tmp_path, cases, bad=False)
    job = batch.BatchJob("tiny", LiftSettings(steps=2, grid_size=24, turntable=False), seeds=(0, 1),
                         formats=("ply", "obj"), size=96)
    lift_fn, _ = make_lift_fn(pipe, job.settings, interrupt_after=3)
    with pytest.raises(KeyboardInterrupt):
        batch.run_batch(batch.list_images(folder), tmp_path / "out", job, lift_fn, progress=False)
    assert len(batch.read_manifest(tmp_path / "out")) == 3
    # a kill during the manifest append leaves a torn line: ignored, and the next record starts cleanly
    with open(tmp_path / "out" / batch.MANIFEST, "a") as handle:
        handle.write('{"key": "robot/seed1", "sta')
    lift_fn, calls = make_lift_fn(pipe, job.settings)
    report = batch.run_batch(batch.list_images(folder), tmp_path / "out", job, lift_fn, progress=False)
    assert calls == [1] and report.skipped == 3
    lines = [json.loads(line) for line in (tmp_path / "out" / batch.MANIFEST).read_text().splitlines()
             if line.startswith('{"key"') and line.endswith("}")]
    keys = [line["key"] for line in lines]
    assert sorted(keys) == ["funko/seed0", "funko/seed1", "robot/seed0", "robot/seed1"]
    # the same bytes as an uninterrupted run
    lift_fn, _ = make_lift_fn(pipe, job.settings)
    batch.run_batch(batch.list_images(folder), tmp_path / "fresh", job, lift_fn, progress=False)
    for key in keys:
        assert (tmp_path / "out" / f"{key}.ply").read_bytes() == (tmp_path / "fresh" / f"{key}.ply").read_bytes()


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from toonlab import zoo
from toonlab.shape3d import batch
from toonlab.shape3d.lift import LiftSettings, lift
pipe = zoo.load("shap_e_img2img", "ci")
settings = LiftSettings(steps=2, grid_size=24, turntable=False)
job = batch.BatchJob("tiny", settings, seeds=(0, 1, 2), formats=("ply",), size=96)
def lift_fn(image, seed):
    lifted = lift(pipe, image, seed, settings)
    time.sleep(float(sys.argv[3]))
    return lifted, {}
batch.run_batch(batch.list_images(sys.argv[1]), Path(sys.argv[2]), job, lift_fn, progress=False)
"""


def test_batch_survives_sigkill(cases, tmp_path):
    folder = folder_of_inputs(tmp_path, cases[:1], bad=False)
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(folder), str(out), "2"], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(batch.read_manifest(out)) < 1:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 1 <= len(batch.read_manifest(out)) < 3
    subprocess.run([sys.executable, str(script), str(folder), str(out), "0"], env=env, check=True, timeout=300)
    records = batch.read_manifest(out)
    assert sorted(r["key"] for r in records) == ["funko/seed0", "funko/seed1", "funko/seed2"]
    assert len((out / batch.MANIFEST).read_text().splitlines()) == 3  # each once
    assert sorted(p.name for p in (out / "funko").iterdir()) == sorted(
        [f"seed{s}.ply" for s in range(3)] + [f"seed{s}_input.png" for s in range(3)])


def test_rembg_without_the_package_says_how_to_get_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_rembg(name, *args, **kwargs):
        if name == "rembg":
            raise ImportError("No module named 'rembg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rembg)
    with pytest.raises(preprocess.PreprocessError, match="pip install rembg.*grabcut"):
        preprocess.segment(Image.new("RGB", (16, 16)), "rembg")


def test_weights_digest_tells_models_apart(pipe):
    from toonlab.shape3d.lift import weights_digest

    other = zoo.load("shap_e_img2img", "ci", seed=1)
    fresh = zoo.load("shap_e_img2img", "ci")
    before = weights_digest(fresh)
    lift(fresh, Image.new("RGB", (32, 32), (200, 30, 30)), 0, LiftSettings(steps=1, grid_size=16, turntable=False))
    assert weights_digest(fresh) == before  # a lift rewrites the renderer MLP from the latent: not weights
    assert weights_digest(pipe) == before
    assert weights_digest(pipe) != weights_digest(other)

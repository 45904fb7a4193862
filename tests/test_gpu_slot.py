"""benchmarks/gpu_slot.py: what it carries to a lent GPU machine, and what it brings back."""

import importlib.util
import os
import sys
import tarfile
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def slot():
    path = Path(__file__).parents[1] / "benchmarks" / "gpu_slot.py"
    spec = importlib.util.spec_from_file_location("gpu_slot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_carries_what_the_device_lacks_and_nothing_it_has(slot):
    closure = slot.runtime_closure()  # read from this venv: the lock's versions
    assert {"diffusers", "open-clip-torch", "piq", "pytorch-fid", "papermill", "ipykernel", "numpy", "torch"} <= set(closure)
    assert "toonlab" not in closure  # the repository travels as the working tree
    carried = slot.to_carry(closure)
    assert {"diffusers", "open-clip-torch", "piq", "pytorch-fid", "papermill", "ipykernel"} <= set(carried)
    assert not {"torch", "torchvision", "numpy", "transformers", "peft", "debugpy", "jedi"} & set(carried)
    assert not [name for name in carried if name.startswith(("nvidia-", "cuda-"))]
    assert carried["diffusers"] == closure["diffusers"]


def test_the_download_asks_for_the_devices_python_and_platform_without_dependencies(slot, tmp_path):
    command = slot.download_command({"piq": "0.8.0"}, tmp_path)
    assert command[-1] == "piq==0.8.0" and "--no-deps" in command and "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "manylinux_2_17_x86_64" in command


def test_the_size_check_names_the_limit_and_the_way_out(slot):
    assert "= 60.0 MiB" in slot.check_size(30 * 2**20, 30 * 2**20)
    with pytest.raises(SystemExit, match="over the device tool's 64 MiB.*Carry fewer wheels"):
        slot.check_size(40 * 2**20, 30 * 2**20)


def test_no_wheels_is_an_error_that_says_to_prepare(slot, tmp_path):
    with pytest.raises(SystemExit, match="gpu_slot.py prepare"):
        slot.install_wheels(tmp_path, tmp_path / "site")


def test_it_packs_the_chapters_results_and_what_it_published_under_data(slot, tmp_path):
    results = tmp_path / "results" / "gpu" / "03_gan"
    (tmp_path / "data" / "weights").mkdir(parents=True)
    (tmp_path / "data" / "cache").mkdir()
    old = tmp_path / "data" / "registry_unchanged.yaml"
    old.write_text("x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    start = time.time() - 1
    results.mkdir(parents=True)
    (results / "metrics.json").write_text("{}")
    (tmp_path / "data" / "weights" / "gan_gpu_x.safetensors").write_bytes(b"w")
    (tmp_path / "data" / "cache" / "avatars.npz").write_bytes(b"c")  # a cache is rebuilt, never brought back

    written = slot.written_since(start, "gpu", "03_gan", root=tmp_path)
    names = [str(p.relative_to(tmp_path)) for p in written]
    assert names == ["data/weights/gan_gpu_x.safetensors", "results/gpu/03_gan/metrics.json"]

    archive = tmp_path / "out" / "03.tar.gz"
    archive.parent.mkdir()
    slot.pack(written, archive, root=tmp_path)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(names)
    assert not list(archive.parent.glob("*.tmp"))


def test_markers_are_read_as_the_device_reads_them(slot):
    from packaging.requirements import Requirement

    device = slot.device_environment("3.12")
    assert Requirement('aiohttp>=3.9; python_version == "3.12"').marker.evaluate(device)  # papermill's, on 3.12
    assert not Requirement('pywin32; sys_platform == "win32"').marker.evaluate(device)
    assert not Requirement('x; extra == "docs"').marker.evaluate(device)


def test_chapters_are_named_as_the_runner_names_them(slot):
    assert slot.chapter_stems(["03", "05_inversion"]) == ["03_gan", "05_inversion"]
    with pytest.raises(ValueError, match="no chapter '42'"):
        slot.chapter_stems(["42"])


def test_a_chapter_past_its_limit_is_stopped_with_its_process_group(slot, tmp_path):
    started = time.time()
    rc = slot.run_chapter([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "x.log", dict(os.environ), 1)
    assert rc == "timed out after 1 s" and time.time() - started < 30


@pytest.fixture
def fake_repo(slot, tmp_path, monkeypatch):
    """A repository with no chapters to run: each test says what the chapter run does."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    monkeypatch.setattr(slot, "REPO", repo)
    monkeypatch.setattr(slot, "chapter_stems", lambda wanted: ["03_gan"])
    return repo


def slot_run(slot, tmp_path, *extra):
    return slot.main(["run", "--chapters", "03", "--profile", "gpu", "--no-install", "--out", str(tmp_path / "out"),
                      "--wheels", str(tmp_path / "no-wheels"), *extra])


def test_a_finished_chapter_is_packed_to_commit(slot, tmp_path, fake_repo, monkeypatch):
    commands = []

    def finished(command, log, env, limit):
        commands.append(command)
        log.write_text("ran")
        (fake_repo / "results" / "gpu" / "03_gan").mkdir(parents=True)
        (fake_repo / "results" / "gpu" / "03_gan" / "metrics.json").write_text("{}")
        return 0

    monkeypatch.setattr(slot, "run_chapter", finished)
    assert slot_run(slot, tmp_path) == 0
    assert commands[0][-5:] == ["--profile", "gpu", "--chapters", "03_gan", "--force"]
    with tarfile.open(tmp_path / "out" / "03.tar.gz") as tar:
        assert tar.getnames() == ["results/gpu/03_gan/metrics.json"]
    summary = (tmp_path / "out" / "slot.txt").read_text()
    assert "unknown (not prepared)" in summary and "chapter 03_gan: rc 0" in summary and ": met)" in summary


@pytest.mark.parametrize("rc, wrote", [(1, True), ("timed out after 5 s", True), (0, False)])
def test_a_failed_stopped_or_empty_chapter_fails_the_slot_and_is_not_packed_to_commit(slot, tmp_path, fake_repo,
                                                                                       monkeypatch, rc, wrote):
    def failing(command, log, env, limit):
        if wrote:  # half the results of a chapter that did not finish
            (fake_repo / "results" / "gpu" / "03_gan").mkdir(parents=True)
            (fake_repo / "results" / "gpu" / "03_gan" / "fd.csv").write_text("x")
        return rc

    monkeypatch.setattr(slot, "run_chapter", failing)
    assert slot_run(slot, tmp_path) == 1
    assert (tmp_path / "out" / "03.failed.tar.gz").is_file() and not (tmp_path / "out" / "03.tar.gz").exists()
    assert "failed" in (tmp_path / "out" / "slot.txt").read_text()


def test_a_spent_deadline_runs_nothing(slot, tmp_path, fake_repo, monkeypatch):
    monkeypatch.setattr(slot, "run_chapter", lambda *a: pytest.fail("ran past the deadline"))
    assert slot_run(slot, tmp_path, "--deadline", "5") == 1
    assert "not run" in (tmp_path / "out" / "slot.txt").read_text()


def test_more_chapters_than_the_device_brings_back_are_refused(slot, tmp_path, fake_repo, monkeypatch):
    monkeypatch.setattr(slot, "chapter_stems", lambda wanted: ["01_data", "02_clustering", "03_gan", "04_diffusion"])
    with pytest.raises(SystemExit, match="at most 3 per call"):
        slot_run(slot, tmp_path)

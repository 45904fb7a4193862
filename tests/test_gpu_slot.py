"""benchmarks/gpu_slot.py: what it carries to a lent GPU machine, and what it brings back."""

import importlib.util
import os
import subprocess
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
    assert slot.pack(written, archive, root=tmp_path) == archive.stat().st_size
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(names)
    assert not list(archive.parent.glob("*.tmp"))


def test_a_failing_chapter_fails_the_slot(slot, tmp_path, monkeypatch):
    calls = []

    def failing(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(slot.subprocess, "run", failing)
    monkeypatch.setattr(slot, "REPO", tmp_path)
    assert slot.main(["run", "--chapters", "03", "--profile", "gpu", "--no-install", "--out", str(tmp_path / "out"),
                      "--wheels", str(tmp_path / "no-wheels")]) == 1
    assert calls[0][-4:] == ["--profile", "gpu", "--chapters", "03"]
    assert (tmp_path / "out" / "03.tar.gz").is_file() and (tmp_path / "out" / "03.log").is_file()
    summary = (tmp_path / "out" / "slot.txt").read_text()
    assert "unknown (not prepared)" in summary and "chapter 03: rc 1" in summary and "failed" in summary

"""One short GPU slot, prepared here and spent in one call: chapters in the `gpu` profile on a lent GPU machine.

The device machine a session is sometimes lent (the `device` tool: one H200, Python 3.12, about 15 minutes of
GPU time per issue, no network, 64 MiB of files carried to it) has torch, transformers, peft, accelerate, timm,
scikit-learn, matplotlib, pandas, scipy and more, but not diffusers, open_clip, piq, pytorch-fid, papermill or
the data packages. So the slot is prepared here, where PyPI is reachable, and run there without thinking:

    python benchmarks/gpu_slot.py prepare          # here: wheels for what the device lacks -> .whl/, size checked
    python3 benchmarks/gpu_slot.py run --chapters 03 --out "$OUT"                    # there (carry: [".whl"])

``run`` installs ``.whl/`` into ``/tmp/site`` (the device README's recipe), runs each chapter with the book's
own runner (``python -m toonlab.book run --profile gpu --chapters NN --force``) under ``--limit`` seconds and
the call's ``--deadline``, prints its wall time against the profile's bar (≤ 8 minutes per chapter, issue 12),
and packs what the chapter wrote (``results/<profile>/<chapter>/``, and the weights and registry lines it
publishes under ``data/``) into ``$OUT/NN.tar.gz``, with its log ``$OUT/NN.log`` and the summary
``$OUT/slot.txt`` (rewritten after each chapter, so a stopped call still says how far it got). Unpack a
finished chapter's archive at the repository root here and commit it; a chapter that failed or was stopped
packs into ``NN.failed.tar.gz``, for reading, not committing. Run ``prepare`` right before the call: it
records in ``.whl/SOURCE`` the commit the tree comes from (the device's copy may come without ``.git``, so
the results' own provenance may not know it). Chapters that read another's run cache (05 and 06 read 03's
generators) run in the same call, after it.

What the device has is read from its image's package list (`KINDS.md` of the device tool, as read on
2026-11-17): ``DEVICE_HAS`` below. Its torch is 2.11 where this project pins 2.15; the gpu run records the
versions it used in its provenance. ``python benchmarks/gpu_slot.py run --profile ci --chapters 01 --out /tmp/x``
rehearses the same steps on this CPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / ".whl"
SITE = Path("/tmp/site")
CARRY_LIMIT_MIB = 64  # the device tool: working tree + carried paths
BAR_SECONDS = 8 * 60  # issue 12: each chapter's gpu parameters sized to <= 8 minutes on one H200-class GPU
FILES_BACK, FILE_BACK_BYTES = 8, 16 * 2**20  # the device tool brings back at most 8 files of 16 MiB from $OUT
PACK_SECONDS = 20  # kept back from the deadline to pack what a stopped chapter wrote
DEVICE_PYTHON = "3.12"
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64", "manylinux1_x86_64")
# The device image's packages (device tool, KINDS.md, read 2026-11-17): not carried.
DEVICE_HAS = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax
llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec
patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server
tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3
uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())
# The runner's own needs beyond the library's dependencies (the `book` extra without the HTML build).
RUNNER_NEEDS = ("papermill", "ipykernel")
# Required by their parents' metadata but imported only on demand, by nothing the runner does; left behind to
# keep the carry under 64 MiB (about 15 MiB together): ipykernel imports debugpy in a try/except (the debugger),
# IPython finds jedi (and jedi parso) only for tab completion, ImageHash imports pywt only inside `whash`
# (we use `phash`).
IMPORTED_ON_DEMAND = frozenset({"debugpy", "jedi", "parso", "pywavelets"})
NEVER_CARRIED = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")  # the device's CUDA build stays


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_environment(python: str = DEVICE_PYTHON) -> dict[str, str]:
    """Environment markers as the device evaluates them (``python_version == "3.12"`` and the like), not as
    this machine would."""
    from packaging.markers import default_environment

    return {**default_environment(), "python_version": python, "python_full_version": f"{python}.0",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def runtime_closure(roots: tuple[str, ...] = ("toonlab", *RUNNER_NEEDS), python: str = DEVICE_PYTHON,
                    device_has: frozenset[str] = DEVICE_HAS) -> dict[str, str | None]:
    """Every distribution the runner imports, with the version installed here (the lock's), by walking the
    installed packages' requirements from ``roots`` under the device's markers (extras left out). The walk
    stops at what the device has (its own dependencies come with it); those map to their version here, or to
    None where only the device needs them (``aiohttp`` for papermill on Python 3.12)."""
    from packaging.requirements import Requirement

    environment = device_environment(python)
    found: dict[str, str | None] = {}
    todo = list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in found:
            continue
        on_device = name in device_has or NEVER_CARRIED.match(name) is not None
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if on_device:
                found[name] = None
                continue
            raise SystemExit(f"{name} is not installed here: run `make venv` first (prepare reads the venv)") from None
        found[name] = dist.version
        if on_device:
            continue
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(requirement.name)
    found.pop("toonlab", None)  # the repository itself travels as the working tree
    return found


def to_carry(closure: dict[str, str | None], device_has: frozenset[str] = DEVICE_HAS) -> dict[str, str]:
    """The part of ``closure`` the device lacks."""
    return {name: version for name, version in sorted(closure.items())
            if name not in device_has and name not in IMPORTED_ON_DEMAND and not NEVER_CARRIED.match(name)}


def download_command(requirements: dict[str, str], dest: Path, python: str = DEVICE_PYTHON) -> list[str]:
    platforms = [arg for platform in DEVICE_PLATFORMS for arg in ("--platform", platform)]
    return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp", *platforms, "-d", str(dest),
            *(f"{name}=={version}" for name, version in requirements.items())]


def tree_bytes(root: Path = REPO) -> int:
    """What the device tool sends: tracked files and untracked ones git does not ignore."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                           check=True, capture_output=True).stdout.split(b"\0")
    return sum((root / f.decode()).stat().st_size for f in files if f and (root / f.decode()).is_file())


def check_size(wheel_bytes: int, tree: int, limit_mib: int = CARRY_LIMIT_MIB) -> str:
    total = (wheel_bytes + tree) / 2**20
    line = f"wheels {wheel_bytes / 2**20:.1f} MiB + working tree {tree / 2**20:.1f} MiB = {total:.1f} MiB"
    if total > limit_mib:
        raise SystemExit(f"{line}: over the device tool's {limit_mib} MiB. Carry fewer wheels (a chapter that "
                         f"needs none of a package can run without it) or move large untracked files out of the tree.")
    return line


def prepare(args: argparse.Namespace) -> int:
    wanted, dest = to_carry(runtime_closure(python=args.python)), Path(args.wheels)
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in dest.glob("*.whl"):  # one version of each package, or the install on the device stops
        wheel.unlink()
    if subprocess.run(download_command(wanted, dest, args.python)).returncode:
        failed = [f"{n}=={v}" for n, v in wanted.items()
                  if subprocess.run(download_command({n: v}, dest, args.python), capture_output=True).returncode]
        if not failed:
            raise SystemExit("pip download failed (see above) although each wheel downloads on its own: run prepare again")
        raise SystemExit(f"no Python {args.python} manylinux wheel for: {', '.join(failed)}. Pick versions that "
                         f"ship one (or build a pure-Python wheel here with `pip wheel --no-deps`) into {dest}/")
    # The device's copy of the tree may come without .git: say which commit it is (prepare right before the call).
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    (dest / "SOURCE").write_text(f"{head}{' with uncommitted changes' if dirty else ''}\n")
    wheels = sorted(dest.glob("*.whl"))
    print(f"{len(wheels)} wheels in {dest}/ for what the device lacks: {', '.join(wanted)}")
    print(check_size(sum(w.stat().st_size for w in wheels), tree_bytes()))
    if dirty:
        print("the tree has uncommitted changes: commit, then prepare again, so the results name their commit")
    print('on the device: python3 benchmarks/gpu_slot.py run --chapters NN --out "$OUT"   (carry [".whl"])')
    return 0


def install_wheels(wheels: Path = WHEELS, site: Path = SITE) -> None:
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise SystemExit(f"no wheels in {wheels}: run `python benchmarks/gpu_slot.py prepare` here first and carry "
                         f"'.whl' (or pass --no-install where everything is installed)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, found)], check=True)


def written_since(start: float, profile: str, chapter: str, root: Path = REPO) -> list[Path]:
    """What a chapter run wrote that belongs in the repository: its results folder and new or changed files under
    data/ (published weights, their registry lines)."""
    results = root / "results" / profile / chapter
    paths = [p for p in results.rglob("*") if p.is_file()] if results.is_dir() else []
    paths += [p for p in (root / "data").rglob("*") if p.is_file() and p.stat().st_mtime >= start
              and "cache" not in p.relative_to(root / "data").parts]
    return sorted(set(paths))


def pack(paths: list[Path], archive: Path, root: Path = REPO) -> int:
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in paths:
            tar.add(path, arcname=str(path.relative_to(root)))
    tmp.replace(archive)  # never a half-written archive under $OUT
    return archive.stat().st_size


def chapter_stems(wanted: list[str], root: Path = REPO) -> list[str]:
    """``03`` or ``03_gan`` -> ``03_gan``, as the runner selects them (an unknown one stops before any run)."""
    sys.path.insert(0, str(root / "lib"))
    from toonlab.book.chapters import discover, select

    return [chapter.stem for chapter in select(discover(root / "notebooks"), wanted)]


def run_chapter(command: list[str], log: Path, env: dict[str, str], limit: float) -> int | str:
    """The runner in its own process group, so that a timeout also stops the notebook's kernel before packing."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return f"timed out after {limit:.0f} s"


def run(args: argparse.Namespace) -> int:
    stems = chapter_stems(args.chapters)
    if 2 * len(stems) + 1 > FILES_BACK:
        raise SystemExit(f"{len(stems)} chapters write {2 * len(stems) + 1} files; the device brings back "
                         f"{FILES_BACK}: run at most {(FILES_BACK - 1) // 2} per call")
    deadline = time.time() + args.deadline
    env = dict(os.environ, TOONLAB_ROOT=str(REPO), PYTHONUNBUFFERED="1")
    if not args.no_install:
        install_wheels(Path(args.wheels), Path(args.site))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.site, str(REPO / "lib"), env.get("PYTHONPATH")]))
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "lib"), env.get("PYTHONPATH")]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.wheels) / "SOURCE"
    say = [f"tree from commit {source.read_text().strip() if source.is_file() else 'unknown (not prepared)'}, "
           f"profile {args.profile}"]
    verdicts = []
    for stem in stems:
        number, start = stem[:2], time.time()
        limit = min(args.limit, deadline - start - PACK_SECONDS)
        if limit <= 0:
            verdicts.append("not run")
            say.append(f"chapter {stem}: not run (the call's --deadline of {args.deadline} s is spent)")
            continue
        # --force: a warm machine's cached chapter would otherwise 'finish' in seconds
        rc = run_chapter([sys.executable, "-m", "toonlab.book", "run", "--profile", args.profile, "--chapters", stem,
                          "--force"], out / f"{number}.log", env, limit)
        wall = time.time() - start
        written = written_since(start, args.profile, stem, REPO)
        if rc != 0:
            verdict = "failed"
        elif not any(p.is_relative_to(REPO / "results" / args.profile / stem) for p in written):
            verdict, rc = "failed", "0 but no results folder"
        else:
            verdict = "met" if wall <= BAR_SECONDS else "MISSED"
        # only a finished chapter's archive is one to unpack and commit
        archive = out / (f"{number}.tar.gz" if verdict != "failed" else f"{number}.failed.tar.gz")
        size = pack(written, archive, REPO)
        verdicts.append(verdict)
        say.append(f"chapter {stem}: rc {rc}, wall {wall:.0f} s (bar {BAR_SECONDS} s: {verdict}), {archive.name} "
                   f"{size / 2**20:.1f} MiB{'  (over the 16 MiB a file may bring back)' if size > FILE_BACK_BYTES else ''}")
        print(say[-1])
        atomic_write(out / "slot.txt", "\n".join(say) + "\n")  # after each chapter: a killed call still says
    atomic_write(out / "slot.txt", "\n".join(say) + "\n")
    return 0 if all(verdict == "met" for verdict in verdicts) else 1


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    here = sub.add_parser("prepare", help="download wheels for what the device lacks into .whl/ (here, with PyPI)")
    here.add_argument("--python", default=DEVICE_PYTHON, help="the device's Python (another one to rehearse here)")
    here.add_argument("--wheels", default=str(WHEELS))
    on_device = sub.add_parser("run", help="install .whl/, run chapters, pack their results under --out")
    on_device.add_argument("--chapters", nargs="+", required=True,
                           help="chapters, e.g. 03 05 (05 reads 03's generators from the run's cache: same call)")
    on_device.add_argument("--profile", default="gpu", help="gpu (ci rehearses the steps on a CPU)")
    on_device.add_argument("--out", default=os.environ.get("OUT"), help="where archives and logs go ($OUT there)")
    on_device.add_argument("--limit", type=int, default=BAR_SECONDS, help="seconds per chapter before it is stopped")
    on_device.add_argument("--deadline", type=int, default=570,
                           help="seconds for the whole call, install and packing included (the device stops a "
                                "command at 600)")
    on_device.add_argument("--no-install", action="store_true", help="everything is installed already")
    on_device.add_argument("--wheels", default=str(WHEELS))
    on_device.add_argument("--site", default=str(SITE), help="where the wheels are installed (put first on the path)")
    args = parser.parse_args(argv)
    if args.command == "run" and not args.out:
        parser.error("--out is required where $OUT is not set")
    return prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())

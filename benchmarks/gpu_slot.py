"""One short GPU slot, prepared here and spent in one call: chapters in the `gpu` profile on a lent GPU machine.

The device machine a session is sometimes lent (the `device` tool: one H200, Python 3.12, about 15 minutes of
GPU time per issue, no network, 64 MiB of files carried to it) has torch, transformers, peft, accelerate, timm,
scikit-learn, matplotlib, pandas, scipy and more, but not diffusers, open_clip, piq, pytorch-fid, papermill or
the data packages. So the slot is prepared here, where PyPI is reachable, and run there without thinking:

    python benchmarks/gpu_slot.py prepare          # here: wheels for what the device lacks -> .whl/, size checked
    python3 benchmarks/gpu_slot.py run --chapters 03 --out "$OUT"                    # there (carry: [".whl"])

``run`` installs ``.whl/`` into ``/tmp/site`` (the device README's recipe), runs each chapter with the book's
own runner (``python -m toonlab.book run --profile gpu --chapters NN``) under ``--limit`` seconds, prints its
wall time against the profile's bar (≤ 8 minutes per chapter, issue 12), and packs what the chapter wrote
(``results/<profile>/<chapter>/``, and the weights and registry lines it publishes under ``data/``) into
``$OUT/<chapter>.tar.gz``. Unpack that archive at the repository root here and commit it. The device tool allows
at most 8 files back, 16 MiB each; a chapter whose archive is larger is reported, not truncated.

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
DEVICE_PYTHON = "3.12"
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64", "manylinux1_x86_64")
# The device image's packages (device tool, KINDS.md, read 2026-11-17): not carried.
DEVICE_HAS = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer click cloudpickle cmake colorama contourpy coverage cycler cython einops filelock flatbuffers
fonttools frozenlist fsspec grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig jinja2 joblib kiwisolver lazy-loader lxml markdown markdown-it-py markupsafe matplotlib mdurl ml-dtypes
mpmath msgpack multidict mypy-extensions networkx ninja numpy opencv-python-headless packaging pandas pathspec
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pygments pyparsing
python-dateutil pyyaml regex requests rich safetensors scikit-image scikit-learn scipy sentencepiece setuptools
shellingham simplejson six sortedcontainers sympy tabulate threadpoolctl tifffile timm tokenizers toolz torch
torchvision tqdm transformers triton typer typing-extensions typing-inspect urllib3 werkzeug wheel wrapt zipp
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


def runtime_closure(roots: tuple[str, ...] = ("toonlab", *RUNNER_NEEDS)) -> dict[str, str]:
    """Every distribution the runner imports, with the version installed here (the lock's), by walking the
    installed packages' requirements from ``roots`` (extras left out)."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is not installed here: run `make venv` first (prepare reads the venv)") from None
        found[name] = dist.version
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    found.pop("toonlab", None)  # the repository itself travels as the working tree
    return found


def to_carry(closure: dict[str, str], device_has: frozenset[str] = DEVICE_HAS) -> dict[str, str]:
    """The part of ``closure`` the device lacks."""
    return {name: version for name, version in sorted(closure.items())
            if name not in device_has and name not in IMPORTED_ON_DEMAND and not NEVER_CARRIED.match(name)}


def download_command(requirements: dict[str, str], dest: Path, python: str = DEVICE_PYTHON) -> list[str]:
    platforms = [arg for platform in DEVICE_PLATFORMS for arg in ("--platform", platform)]
    return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp", *platforms, "-d", str(dest),
            *(f"{name}=={version}" for name, version in requirements.items())]


def tracked_bytes(root: Path = REPO) -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout.split(b"\0")
    return sum((root / f.decode()).stat().st_size for f in files if f and (root / f.decode()).is_file())


def check_size(wheel_bytes: int, tree_bytes: int, limit_mib: int = CARRY_LIMIT_MIB) -> str:
    total = (wheel_bytes + tree_bytes) / 2**20
    line = f"wheels {wheel_bytes / 2**20:.1f} MiB + working tree {tree_bytes / 2**20:.1f} MiB = {total:.1f} MiB"
    if total > limit_mib:
        raise SystemExit(f"{line}: over the device tool's {limit_mib} MiB. Carry fewer wheels (a chapter that "
                         f"needs none of a package can run without it) or move large untracked files out of the tree.")
    return line


def prepare(args: argparse.Namespace) -> int:
    wanted, dest = to_carry(runtime_closure()), Path(args.wheels)
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in dest.glob("*.whl"):  # one version of each package, or the install on the device stops
        wheel.unlink()
    if subprocess.run(download_command(wanted, dest, args.python)).returncode:
        failed = [f"{n}=={v}" for n, v in wanted.items()
                  if subprocess.run(download_command({n: v}, dest, args.python), capture_output=True).returncode]
        raise SystemExit(f"no Python {args.python} manylinux wheel for: {', '.join(failed)}. Pick versions that "
                         f"ship one (or build a pure-Python wheel here with `pip wheel --no-deps`) into {dest}/")
    # The device's copy of the tree may come without .git: say which commit it is, for the provenance.
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    (dest / "SOURCE").write_text(f"{head}{' with uncommitted changes' if dirty else ''}\n")
    wheels = sorted(dest.glob("*.whl"))
    print(f"{len(wheels)} wheels in {dest}/ for what the device lacks: {', '.join(wanted)}")
    print(check_size(sum(w.stat().st_size for w in wheels), tracked_bytes()))
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


def run(args: argparse.Namespace) -> int:
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
    rows = []
    for chapter in args.chapters:
        start = time.time()
        with open(out / f"{chapter}.log", "w") as log:
            try:
                rc = subprocess.run([sys.executable, "-m", "toonlab.book", "run", "--profile", args.profile,
                                     "--chapters", chapter], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=args.limit).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        wall = time.time() - start
        stems = sorted(p.name for p in (REPO / "results" / args.profile).glob(f"{chapter}_*"))
        written = sorted({p for stem in stems for p in written_since(start, args.profile, stem, REPO)})
        size = pack(written, out / f"{chapter}.tar.gz", REPO)
        verdict = "met" if rc == 0 and wall <= BAR_SECONDS else "MISSED" if rc == 0 else "failed"
        rows.append((chapter, rc, wall, verdict, size))
        say.append(f"chapter {chapter}: rc {rc}, wall {wall:.0f} s (bar {BAR_SECONDS} s: {verdict}), archive "
                   f"{size / 2**20:.1f} MiB{'  (over the 16 MiB a file may bring back)' if size > 16 * 2**20 else ''}")
        print(say[-1])
    (out / "slot.txt").write_text("\n".join(say) + "\n")
    return 0 if all(verdict == "met" for *_, verdict, _ in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    here = sub.add_parser("prepare", help="download wheels for what the device lacks into .whl/ (here, with PyPI)")
    here.add_argument("--python", default=DEVICE_PYTHON, help="the device's Python (another one to rehearse here)")
    here.add_argument("--wheels", default=str(WHEELS))
    on_device = sub.add_parser("run", help="install .whl/, run chapters, pack their results under --out")
    on_device.add_argument("--chapters", nargs="+", required=True, help="chapter numbers, e.g. 03 04")
    on_device.add_argument("--profile", default="gpu", help="gpu (ci rehearses the steps on a CPU)")
    on_device.add_argument("--out", default=os.environ.get("OUT"), help="where archives and logs go ($OUT there)")
    on_device.add_argument("--limit", type=int, default=540, help="seconds per chapter before it is stopped")
    on_device.add_argument("--no-install", action="store_true", help="everything is installed already")
    on_device.add_argument("--wheels", default=str(WHEELS))
    on_device.add_argument("--site", default=str(SITE), help="where the wheels are installed (put first on the path)")
    args = parser.parse_args(argv)
    if args.command == "run" and not args.out:
        parser.error("--out is required where $OUT is not set")
    return prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())

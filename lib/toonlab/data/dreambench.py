"""DreamBench (DreamBooth paper, §4.1): subjects, their classes, the 25 evaluation prompts, and the images.

``prompts_and_classes.txt`` (committed under ``data/dreambench/``, identical in google/dreambooth) lists each
subject's class noun and two prompt lists, one for objects and one for live subjects (the 9 cats and dogs),
written as Python ``'a {0} {1} in the jungle'.format(unique_token, class_token)``; :func:`subject_prompts`
fills in the identifier and the class.

:func:`subject_images` hands out a subject's images as PIL, from one of two places:

- ``source="committed"`` (profiles ``ci``, ``cpu``, ``gpu``): the small subset committed under
  ``data/dreambench/`` (a few images of a few subjects, downsized; CC-BY 4.0, see its CREDITS.txt). This module
  reads it itself and checks every file against ``data/manifests/dreambench.csv`` (sha256), read-only.
- ``source="dreambench"`` (profile ``full``): the whole data set, a clone of google/dreambooth's ``dataset/``,
  through the registry's ``dreambench`` entry (kind ``folder``) and the normal folder source.

Why not a source kind of its own for the subset: a new kind means editing the registry and source dispatch,
modules every chapter reaches, which would mark every chapter's committed results stale. Both ways call
``note_source_used("dreambench")``; the registry entry says ``chapters: [08_fewshot]``, so the subset, its
manifest and the entry count in chapter 08's code fingerprint only, and the book runner fails any other
chapter that loads them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from PIL import Image

from toonlab.data.images import decode
from toonlab.data.manifest import read_manifest
from toonlab.data.sources.base import read_checked
from toonlab.paths import note_source_used, repo_root

LIVE_CLASSES = ("cat", "dog")  # the paper's live subjects use the second prompt list
TOY_SUBJECTS = ("red_cartoon", "monster_toy", "robot_toy", "duck_toy", "poop_emoji", "bear_plushie",
                "grey_sloth_plushie", "wolf_plushie")  # the book's stand-ins for a comic character
SOURCE = "dreambench"  # the registry entry (the whole data set) and the name the book runner is told
COMMITTED = "committed"  # the subset committed under data/dreambench/, checked against its manifest
SOURCES = (COMMITTED, SOURCE)
_PROMPT = re.compile(r"^'(.*)'\.format\(unique_token, class_token\),?$")


def committed_dir() -> Path:
    return repo_root() / "data" / "dreambench"


def committed_manifest() -> Path:
    return repo_root() / "data" / "manifests" / "dreambench.csv"


def protocol_file() -> Path:
    return committed_dir() / "prompts_and_classes.txt"


@lru_cache(maxsize=4)
def _parse(path: str) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    classes: dict[str, str] = {}
    lists: list[list[str]] = []
    section = None
    for line in lines:
        if line == "subject_name,class":
            section = "classes"
        elif line.startswith("prompt_list"):
            section = "prompts"
            lists.append([])
        elif line == "]":
            section = None
        elif section == "classes" and "," in line:
            subject, noun = line.split(",", 1)
            classes[subject] = noun
        elif section == "prompts" and _PROMPT.match(line):
            lists.append(lists.pop() + [_PROMPT.match(line).group(1)])
    if len(lists) != 2 or not classes:
        raise ValueError(f"{path} is not DreamBench's prompts_and_classes.txt (found {len(classes)} classes and "
                         f"{len(lists)} prompt lists; expected 30 and 2)")
    return classes, tuple(lists[0]), tuple(lists[1])


def subject_classes(path: str | Path | None = None) -> dict[str, str]:
    """``{subject: class noun}``, e.g. ``{"monster_toy": "toy", "red_cartoon": "cartoon", ...}``."""
    return dict(_parse(str(path or protocol_file()))[0])


def subject_prompts(subject: str, identifier: str = "sks", path: str | Path | None = None) -> list[str]:
    """The 25 evaluation prompts of ``subject`` with ``identifier`` and its class: 'a sks toy in the jungle', ..."""
    classes, objects, live = _parse(str(path or protocol_file()))
    if subject not in classes:
        raise KeyError(f"unknown DreamBench subject {subject!r}; subjects: {sorted(classes)}")
    noun = classes[subject]
    templates = live if noun in LIVE_CLASSES else objects
    return [template.format(identifier, noun) for template in templates]


def committed_images(subject: str) -> list[Image.Image]:
    """A subject's images from the committed subset, in manifest order, each checked against its sha256."""
    manifest = committed_manifest()
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing; it is committed with data/dreambench/ (restore it with git)")
    entries = read_manifest(manifest)
    note_source_used(SOURCE)
    chosen = [entry for entry in entries if entry.label == subject]
    if not chosen:
        raise KeyError(f"the committed DreamBench subset has no images of {subject!r}; it holds "
                       f"{sorted({entry.label for entry in entries})}. The whole data set is source "
                       f"{SOURCE!r} (dreambench_source: {SOURCE}, profile full)")
    root = committed_dir()
    return [decode(read_checked(root / entry.path, entry.sha256, entry.path), entry.path).convert("RGB")
            for entry in chosen]


def subject_images(subject: str, source: str = COMMITTED) -> list[Image.Image]:
    """A subject's images (RGB, native size), in file order: ``committed`` (the checked subset) or ``dreambench``
    (the registered whole data set, through the folder source)."""
    if source == COMMITTED:
        return committed_images(subject)
    if source != SOURCE:
        raise ValueError(f"unknown DreamBench source {source!r}; use one of {list(SOURCES)}")
    from toonlab.data.registry import get_spec
    from toonlab.data.sources import make_source

    everything = make_source(get_spec(SOURCE)).items(None, 0)  # the folder source notes the source used
    items = [item for item in everything if item.label == subject]
    if not items:
        raise KeyError(f"data source {SOURCE!r} has no images of {subject!r}; its sub-folders (subjects) are "
                       f"{sorted({item.label for item in everything})}")
    return [item.render(0).convert("RGB") for item in items]


__all__ = ["COMMITTED", "LIVE_CLASSES", "SOURCE", "SOURCES", "TOY_SUBJECTS", "committed_dir", "committed_images",
           "committed_manifest", "protocol_file", "subject_classes", "subject_images", "subject_prompts"]

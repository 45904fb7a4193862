"""DreamBench's protocol text: subjects, their classes and the 25 evaluation prompts (DreamBooth paper, §4.1).

``prompts_and_classes.txt`` (committed under ``data/dreambench/``, identical in google/dreambooth) lists each
subject's class noun and two prompt lists, one for objects and one for live subjects (the 9 cats and dogs),
written as Python ``'a {0} {1} in the jungle'.format(unique_token, class_token)``; :func:`subject_prompts`
fills in the identifier and the class. :func:`subject_images` hands out a subject's images as PIL: the
committed ``ci`` subset (source ``dreambench``) or the whole data set (``dreambench-full``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from PIL import Image

from toonlab.paths import repo_root

LIVE_CLASSES = ("cat", "dog")  # the paper's live subjects use the second prompt list
TOY_SUBJECTS = ("red_cartoon", "monster_toy", "robot_toy", "duck_toy", "poop_emoji", "bear_plushie",
                "grey_sloth_plushie", "wolf_plushie")  # the book's stand-ins for a comic character
_PROMPT = re.compile(r"^'(.*)'\.format\(unique_token, class_token\),?$")


def protocol_file() -> Path:
    return repo_root() / "data" / "dreambench" / "prompts_and_classes.txt"


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


def subject_images(subject: str, source: str = "dreambench") -> list[Image.Image]:
    """A subject's images (RGB, native size) from a registered source, in file order."""
    from toonlab.data.registry import get_spec
    from toonlab.data.sources import make_source

    items = [item for item in make_source(get_spec(source)).items(None, 0) if item.label == subject]
    if not items:
        raise KeyError(f"source {source!r} has no images of {subject!r}; the ci subset holds "
                       f"{sorted({i.label for i in make_source(get_spec('dreambench')).items(None, 0)})}, "
                       "the whole data set is the 'dreambench-full' source")
    return [item.render(0).convert("RGB") for item in items]


__all__ = ["LIVE_CLASSES", "TOY_SUBJECTS", "protocol_file", "subject_classes", "subject_images", "subject_prompts"]

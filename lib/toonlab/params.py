"""Profiles and notebook parameters.

A profile (DESIGN.md) is a set of notebook parameters and nothing more: ``ci`` (CPU, offline, tiny random
models), ``cpu`` (a laptop's reference run: CPU, offline, real training at reduced scale), ``gpu`` (one GPU,
offline, real training on the offline sets) and ``full`` (hub weights, real data).

Each chapter notebook declares its parameters once, as typed literals in its ``parameters`` cell::

    profile: str = "full"  # ci | cpu | gpu | full
    steps: int = 2000  # training steps

papermill injects the profile's values (``notebooks/params/<profile>.yaml``) in a cell after it; the next
cell calls :func:`validate`, which checks every declared parameter against its annotation and the
chapter's rules and fails with a message that names the parameter and the fix.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROFILES = ("ci", "cpu", "gpu", "full")
COMMON_SECTION = "common"


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or an impossible value."""


@dataclass(frozen=True)
class Rule:
    """Constraints on one parameter beyond its type."""

    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""


class Params(dict):
    """Validated parameters: a plain dict (JSON-able for provenance) with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter named {name!r}; declared: {sorted(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("validated parameters are read-only; change them in the parameters cell")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _matches(value: Any, annotation: Any) -> bool:
    """isinstance() for the literal types a parameters cell may use (int, float, str, bool, list[...], X | None)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):  # YAML and papermill turn tuples into lists
            return False
        (item_type, *_rest) = typing.get_args(annotation) or (Any,)
        return all(_matches(item, item_type) for item in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:  # bool is an int subclass; True is not a step count
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # an int literal is a fine float ("lr: float = 1")
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _resolve_annotation(annotation: Any, namespace: Mapping[str, Any]) -> Any:
    # With `from __future__ import annotations` in effect annotations arrive as strings.
    if isinstance(annotation, str):
        return eval(annotation, {"typing": typing, "Any": Any}, dict(namespace))  # noqa: S307 - our own cell
    return annotation


def validate(namespace: Mapping[str, Any], rules: Mapping[str, Rule] | None = None) -> Params:
    """Check the declared parameters in a notebook's namespace (``globals()``) and return them.

    Types come from the parameters cell's annotations; ``rules`` adds ranges and choices. ``profile`` must
    be one of :data:`PROFILES` and ``seed`` non-negative wherever they are declared.
    """
    annotations = dict(namespace.get("__annotations__", {}))
    if not annotations:
        raise ParameterError(
            "no typed parameters found: declare them in the 'parameters' cell as `name: type = value  # help`"
        )
    rules = dict(rules or {})
    if "profile" in annotations:
        rules.setdefault("profile", Rule(choices=PROFILES))
    if "seed" in annotations:
        rules.setdefault("seed", Rule(min=0))
    unknown_rules = sorted(set(rules) - set(annotations))
    if unknown_rules:
        raise ParameterError(f"rules given for undeclared parameters {unknown_rules}; declared: {sorted(annotations)}")

    values: dict[str, Any] = {}
    for name, raw_annotation in annotations.items():
        if name.startswith("_"):
            continue
        if name not in namespace:
            raise ParameterError(f"parameter {name!r} is annotated but has no value; give it a default literal")
        value = namespace[name]
        annotation = _resolve_annotation(raw_annotation, namespace)
        if not _matches(value, annotation):
            raise ParameterError(
                f"parameter {name!r} must be {_type_name(annotation)}, got {type(value).__name__} {value!r}; "
                f"fix the value in notebooks/params/<profile>.yaml or pass e.g. `-p {name} <{_type_name(annotation)}>`"
            )
        rule = rules.get(name)
        if rule is not None:
            _check_rule(name, value, rule)
        values[name] = list(value) if isinstance(value, tuple) else value
    return Params(values)


def _check_rule(name: str, value: Any, rule: Rule) -> None:
    if rule.choices is not None and value not in rule.choices:
        raise ParameterError(f"parameter {name!r} is {value!r}; it must be one of {list(rule.choices)}")
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if rule.min is not None and item < rule.min:
                raise ParameterError(f"parameter {name!r} is {value!r}; it must be >= {rule.min}")
            if rule.max is not None and item > rule.max:
                raise ParameterError(f"parameter {name!r} is {value!r}; it must be <= {rule.max}")


def profile_params(profile: str, chapter: str, params_dir: Path) -> dict[str, Any]:
    """The parameters one profile gives one chapter: the ``common`` section overlaid by the chapter's."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    path = Path(params_dir) / f"{profile}.yaml"
    if not path.is_file():
        raise ParameterError(f"missing parameter file {path}; every profile needs one (see DESIGN.md)")
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise ParameterError(f"{path} must be a mapping of sections (common, <chapter>) to parameters")
    merged: dict[str, Any] = {}
    for section in (COMMON_SECTION, chapter):
        content = document.get(section) or {}
        if not isinstance(content, dict):
            raise ParameterError(f"{path}: section {section!r} must map parameter names to values")
        merged.update(content)
    merged["profile"] = profile
    return merged

"""Parameter validation: wrong types, impossible values and unknown profiles name the parameter."""

from __future__ import annotations

import pytest

from toonlab.params import ParameterError, Params, Rule, profile_params, validate


def namespace(**values):
    annotations = {name: type(value) for name, value in values.items()}
    return {"__annotations__": annotations, **values}


def test_valid_parameters_are_returned_as_a_plain_dict():
    ns = namespace(profile="ci", seed=3, lr=1e-4, name="x", flag=True)
    params = validate(ns)
    assert isinstance(params, Params) and dict(params) == {"profile": "ci", "seed": 3, "lr": 1e-4, "name": "x", "flag": True}
    assert params.seed == 3
    with pytest.raises(AttributeError, match="read-only"):
        params.seed = 4


def test_unknown_profile_is_rejected_with_the_choices():
    with pytest.raises(ParameterError, match=r"'profile' is 'laptop'.*\['ci', 'cpu', 'gpu', 'full'\]"):
        validate(namespace(profile="laptop"))


@pytest.mark.parametrize(
    "annotation, value",
    [(int, "10"), (int, 2.5), (int, True), (float, "1e-4"), (str, 3), (bool, 1), (list[int], [1, "2"]), (list[str], "ab")],
)
def test_wrong_types_name_the_parameter(annotation, value):
    ns = {"__annotations__": {"profile": str, "steps": annotation}, "profile": "ci", "steps": value}
    with pytest.raises(ParameterError, match="parameter 'steps' must be"):
        validate(ns)


def test_int_is_accepted_for_float_and_optional_types_work():
    ns = {"__annotations__": {"lr": float, "limit": int | None, "names": list[str]}, "lr": 1, "limit": None, "names": ["a"]}
    assert validate(ns) == {"lr": 1, "limit": None, "names": ["a"]}


def test_string_annotations_are_resolved():
    ns = {"__annotations__": {"steps": "int"}, "steps": 5}
    assert validate(ns).steps == 5
    with pytest.raises(ParameterError, match="'steps' must be int"):
        validate({"__annotations__": {"steps": "int"}, "steps": "5"})


def test_rules_reject_impossible_values():
    ns = namespace(profile="ci", steps=0, resolution=48)
    with pytest.raises(ParameterError, match=r"'steps' is 0; it must be >= 1"):
        validate(ns, rules={"steps": Rule(min=1)})
    with pytest.raises(ParameterError, match=r"'resolution' is 48; it must be one of \[32, 64\]"):
        validate(namespace(resolution=48), rules={"resolution": Rule(choices=(32, 64))})
    with pytest.raises(ParameterError, match="must be <= 1"):
        validate(namespace(ratio=1.5), rules={"ratio": Rule(max=1)})


def test_negative_seed_and_rules_for_undeclared_names_are_errors():
    with pytest.raises(ParameterError, match="'seed' is -1"):
        validate(namespace(seed=-1))
    with pytest.raises(ParameterError, match="undeclared parameters"):
        validate(namespace(steps=1), rules={"stpes": Rule(min=1)})


def test_no_parameters_cell_is_an_error():
    with pytest.raises(ParameterError, match="no typed parameters"):
        validate({"x": 1})


def test_profile_params_merge_common_and_chapter_sections(tmp_path):
    (tmp_path / "ci.yaml").write_text("common:\n  seed: 1\n  size: 8\n01_data:\n  size: 16\n")
    assert profile_params("ci", "01_data", tmp_path) == {"seed": 1, "size": 16, "profile": "ci"}
    assert profile_params("ci", "02_other", tmp_path) == {"seed": 1, "size": 8, "profile": "ci"}
    with pytest.raises(ParameterError, match="unknown profile 'cuda'"):
        profile_params("cuda", "01_data", tmp_path)
    with pytest.raises(ParameterError, match="missing parameter file"):
        profile_params("gpu", "01_data", tmp_path)
    (tmp_path / "full.yaml").write_text("common: [1, 2]\n")
    with pytest.raises(ParameterError, match="section 'common' must map"):
        profile_params("full", "01_data", tmp_path)

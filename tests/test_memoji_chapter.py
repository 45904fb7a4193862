"""Chapter 07's steps that are not model code: captions from avatar attributes, the variant list, the
threshold parser, the photo folder."""

from __future__ import annotations

import pytest

from toonlab.chapters import memoji as chapter


def test_avatar_captions_use_the_source_prompt_words():
    assert chapter.avatar_caption({"mouth": "SMILE", "glasses": "ROUND"}) == "emoji, smiling, glasses"
    assert chapter.avatar_caption({"mouth": "SAD", "glasses": "NONE"}) == "emoji, Sad face"
    assert chapter.avatar_caption({"mouth": "SERIOUS", "glasses": "EYEPATCH"}) == "emoji, Neutral"
    import python_avatars as pa

    assert {m.name for m in pa.MouthType.get_all()} <= set(chapter.MOUTH_EXPRESSION)


def test_variants_take_the_pipeline_apart_and_sweep_around_the_source():
    settings = chapter.MemojiSettings(size=64, steps=4)
    found = chapter.variants(settings, [0.5, 1.0], ["30/100", "70/230"], intended_strength=True)
    names = list(found)
    assert names[:4] == ["no LoRA (img2img)", "LoRA (img2img)", "LoRA + ControlNet", chapter.SOURCE_VARIANT]
    assert not found[names[0]].lora and not found[names[0]].controlnet and not found[names[0]].refine
    assert found[chapter.SOURCE_VARIANT] == settings
    assert found[chapter.SOURCE_VARIANT].strength == chapter.A1111_DEFAULT_STRENGTH == 0.75
    assert "MyMemoji, ControlNet weight 0.5" in found and "MyMemoji, ControlNet weight 1" not in found
    assert "MyMemoji, canny 30/100" in found and "MyMemoji, canny 70/230" not in found  # that is the source row
    intended = found[names[-1]]
    assert intended.strength == intended.refine_strength == chapter.INTENDED_STRENGTH == 0.3
    with pytest.raises(ValueError, match="70/230"):
        chapter.parse_thresholds("70-230")


def test_the_photo_folder_has_faces_a_grey_photo_and_a_non_face(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path))
    from toonlab.diffusion.memoji import read_photos

    photos = read_photos(chapter.load_photos("", 3, 32, "ci"))
    names = [name for name, _ in photos]
    assert len(photos) == 3 and names[0].startswith("face-astronaut") and names[-1].startswith("noface")
    assert {image.mode for _, image in photos} == {"RGB", "L"}
    with pytest.raises(FileNotFoundError, match="photos_folder"):
        chapter.load_photos(str(tmp_path / "missing"), 3, 32, "ci")


def test_the_notebook_displays_the_labelled_tables_run_table_returns():
    """``run.table`` returns the labelled frame; a cell that drops it and shows the raw frame shows a table
    that does not say which profile made it."""
    import ast
    import json
    from pathlib import Path

    notebook = json.loads((Path(__file__).parents[1] / "notebooks" / "07_memoji.ipynb").read_text())
    tables = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "table" \
                    and getattr(node.func.value, "id", None) == "run":
                tables += 1
                parent = next(p for p in ast.walk(tree) if node in ast.iter_child_nodes(p))
                assert isinstance(parent, ast.Assign), f"run.table's labelled frame is dropped in:\n{ast.unparse(tree)}"
                name = parent.targets[0].id
                assert name == node.args[1].id, "assign the labelled frame to the name the cell displays"
                last = tree.body[-1]
                if isinstance(last, ast.Expr) and isinstance(last.value, ast.Name):
                    assert last.value.id == name
    assert tables >= 4


def test_memoji_figure_titles_the_edges_with_the_thresholds_used(tmp_path, monkeypatch):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(photos / "face-a.png")
    monkeypatch.setattr(chapter, "load_batch", lambda folder, kind="memoji": [Image.new("RGB", (16, 16))])
    fig = chapter.memoji_figure(photos, {"v": _Report(tmp_path)}, ["v"], 16, canny=(30, 100))
    assert [ax.get_title() for ax in fig.axes][:2] == ["photo", "canny 30/100"]


class _Report:
    def __init__(self, folder):
        self.folder = folder


def test_sdxl_size_cost_is_labelled_an_estimate_with_its_side_and_load():
    table, note = chapter.sdxl_size_cost("cpu · test", 0.75, sides=(64,), real=False, progress=False)
    assert list(table["stage"])[-1] == "one memoji (estimate)"
    assert table["s per memoji (estimate)"].iloc[-1] == pytest.approx(table["s per memoji (estimate)"].iloc[:-1].sum())
    assert set(table["measured"]) == {"cpu · test; the tiny SDXL configs, random weights; estimate from one timed "
                                      "call per stage"}
    for words in ("Estimate", "random weights", "pass-1 side 64 px", "load average", "50 DDIM steps × strength 0.75"):
        assert words in note
    table, note = chapter.sdxl_size_cost("cpu · test", 0.75, sides=(4096,), real=True, progress=False)
    assert table is None and note.startswith("Not measured") and "4096 px" in note

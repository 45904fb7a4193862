"""Captions from data: deterministic, varied, faithful to the attributes, clear about bad input."""

from __future__ import annotations

import pytest

from toonlab.data import captions
from toonlab.data.captions import (
    AVATAR_TEMPLATES,
    Caption,
    CaptionError,
    avatar_caption,
    avatar_facts,
    compose,
    consistent,
    emoji_caption,
    emoji_keywords,
    prompts,
)
from toonlab.data.sources.avatars import PARTS, draw_attributes


def test_every_python_avatars_value_has_a_phrase():
    tables = {"hair": captions.HAIR, "hair_color": captions.HAIR_COLOR, "glasses": captions.GLASSES,
              "facial_hair": captions.FACIAL_HAIR, "skin": captions.SKIN, "mouth": captions.MOUTH,
              "eyes": captions.EYES, "clothing": captions.CLOTHING, "clothing_color": captions.CLOTHING_COLOR}
    for attribute, table in tables.items():
        missing = {m.name for m in PARTS[attribute].get_all()} - set(table)
        assert not missing, f"{attribute}: no phrase for {missing}"


def test_captions_are_deterministic_and_varied():
    attributes = draw_attributes(0, 3)
    first = [avatar_caption(attributes, 0, 3, v).text for v in range(8)]
    assert first == [avatar_caption(dict(attributes), 0, 3, v).text for v in range(8)]
    assert len(set(first)) >= 6, "variants must not repeat one fixed string"
    assert first[0].startswith("a cartoon avatar with ")
    other_seed = [avatar_caption(attributes, 1, 3, v).text for v in range(1, 8)]
    assert other_seed != first[1:]
    # many avatars: every template and both fine and coarse phrases occur
    texts = [avatar_caption(draw_attributes(0, i), 0, i, v).text for i in range(40) for v in range(1, 6)]
    for template in AVATAR_TEMPLATES.values():
        assert any(t.startswith(template[0].split("{")[0]) for t in texts)


def test_full_caption_states_the_visible_attributes():
    attributes = {**draw_attributes(0, 0), "hair": "STRAIGHT_1", "hair_color": "RED", "glasses": "ROUND",
                  "mouth": "BIG_SMILE", "clothing": "HOODIE", "clothing_color": "BLUE_02", "facial_hair": "NONE"}
    caption = avatar_caption(attributes, 0, 0, 0)
    for words in ("long straight red hair", "round glasses", "a wide smile", "wearing a blue hoodie", "no beard"):
        assert words in caption.text
    hat = {**attributes, "hair": "WINTER_HAT_1"}
    assert "red" not in avatar_caption(hat, 0, 0, 0).text.split("wearing")[0], "hidden hair has no colour"
    assert avatar_facts(hat)["hair_color"] == "HIDDEN"


def test_consistency_marks_false_negatives():
    glasses = {**draw_attributes(0, 1), "glasses": "ROUND"}
    other = {**draw_attributes(0, 2), "glasses": "SUNGLASSES"}
    none = {**draw_attributes(0, 2), "glasses": "NONE"}
    short = compose({"glasses_kind": "glasses"})
    assert short.text == "a cartoon avatar with glasses"
    assert consistent(short, avatar_facts(glasses)) and consistent(short, avatar_facts(other))
    assert not consistent(short, avatar_facts(none))
    full = avatar_caption(glasses, 0, 1, 0)
    assert consistent(full, avatar_facts(glasses)) and not consistent(full, avatar_facts(other))
    emoji = emoji_caption({"name": "cat face", "category": "Animals & Nature"}, 0, 0)
    assert not consistent(emoji, avatar_facts(glasses)) and not consistent(short, {"kind": "emoji"})


def test_prompts_are_captions_of_one_fact_in_every_template():
    assert prompts("glasses_kind", "none") == sorted({"a cartoon avatar with no glasses",
                                                       "a cartoon character with no glasses",
                                                       "a drawing of a person with no glasses"})
    assert "a cartoon avatar with red hair" in prompts("hair_color", "RED")
    assert "a cartoon avatar wearing red clothes" in prompts("clothing_color", "RED")


def test_bad_input_is_named():
    attributes = draw_attributes(0, 0)
    broken = {k: v for k, v in attributes.items() if k != "skin"}
    with pytest.raises(CaptionError, match="lack 'skin'"):
        avatar_caption(broken, 0, 0, 0)
    with pytest.raises(CaptionError, match="mouth 'YAWN' has no caption phrase"):
        avatar_caption({**attributes, "mouth": "YAWN"}, 0, 0, 0)
    with pytest.raises(CaptionError, match=r"unknown avatar caption template 'poem'.*avatar_with"):
        compose({"skin": "PALE"}, template="poem")
    with pytest.raises(CaptionError, match="at least one fact"):
        compose({})
    with pytest.raises(CaptionError, match="has no name"):
        emoji_caption({"name": "", "category": "Symbols"}, 0, 0)


def test_emoji_captions_use_name_keywords_category_and_fall_back_without_keywords():
    record = {"name": "grinning face", "category": "Smileys & Emotion", "skin_tone": None,
              "keywords": emoji_keywords(["grinning", "grinning_face"], "grinning face")}
    assert record["keywords"] == ["grinning"]
    first = emoji_caption(record, 0, 5, 0)
    assert first.text == "an emoji of grinning face, from the smileys & emotion category"
    texts = [emoji_caption(record, 0, 5, v).text for v in range(1, 30)]
    assert any("also called grinning" in t for t in texts)
    bare = {**record, "keywords": []}
    assert all("also called" not in emoji_caption(bare, 0, 5, v).text for v in range(30))
    toned = emoji_caption({**record, "skin_tone": "medium"}, 0, 5, 0)
    assert "grinning face, medium skin tone" in toned.text and isinstance(toned, Caption)

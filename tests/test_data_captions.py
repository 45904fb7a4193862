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
    fact_value,
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
    # styles whose phrase has no word "hair" still state the colour the facts hold
    for style, words in (("MOHAWK", "a red mohawk"), ("FRO", "a long red afro"), ("BUZZCUT", "a red buzzcut"),
                         ("BRAIDS", "long red braids"), ("BOB", "a long red bob")):
        caption = avatar_caption({**attributes, "hair": style}, 0, 0, 0)
        assert words in caption.text and ("hair_color", "red") in caption.facts


def test_facts_are_keyed_by_words():
    sunglasses = {**draw_attributes(0, 1), "glasses": "SUNGLASSES"}
    assert avatar_facts(sunglasses) == avatar_facts({**sunglasses, "glasses": "SUNGLASSES_2"})
    assert avatar_facts({**sunglasses, "hair": "WINTER_HAT_1"}) == avatar_facts({**sunglasses, "hair": "WINTER_HAT_4"})
    assert fact_value("glasses", "WAYFARERS_2") == "wayfarer glasses" and fact_value("glasses_kind", "KURT") == "glasses"
    # a caption saying "sunglasses" is true of both drawings, so neither is its negative
    caption = compose({"glasses": "sunglasses"})
    assert consistent(caption, avatar_facts(sunglasses))
    assert consistent(caption, avatar_facts({**sunglasses, "glasses": "SUNGLASSES_2"}))


def _stated_in_text(slot: str, value: str, caption: Caption) -> bool:
    """Does the caption's text say this fact (or a fact that implies it)?"""
    facts, text = dict(caption.facts), caption.text
    if slot == "kind":
        return text.startswith(("a cartoon avatar", "a cartoon character", "a drawing of a person"))
    colour = facts.get("hair_color")
    if slot in ("hair", "hair_length", "glasses", "glasses_kind", "facial_hair", "facial_hair_kind"):
        fine, coarse = {"hair": ("hair", "hair_length"), "hair_length": ("hair", "hair_length"),
                        "glasses": ("glasses", "glasses_kind"), "glasses_kind": ("glasses", "glasses_kind"),
                        "facial_hair": ("facial_hair", "facial_hair_kind"),
                        "facial_hair_kind": ("facial_hair", "facial_hair_kind")}[slot]
        # the fine phrase (which implies its group) or the group's phrase, with the hair colour folded in
        options = [captions._phrase(fine, facts[fine], colour if fine == "hair" else None)] if fine in facts else []
        options.append(captions._phrase(coarse, facts[coarse], colour if coarse == "hair_length" else None))
        return any(option in text for option in options)
    if slot == "clothing":
        return value in text
    return value in text  # skin, mouth, eyes and the colours are their words


def test_same_text_same_facts_and_every_fact_is_in_the_text():
    """The false-negative mask reads facts, the model reads text: they must agree. Over many seeded captions
    (every variant kind), two captions with identical text state identical facts, and every stated fact
    appears in the text."""
    facts_of_text: dict[str, tuple] = {}
    for index in range(1500):
        attributes = draw_attributes(0, index)
        for variant in range(8):
            caption = avatar_caption(attributes, 0, index, variant)
            assert facts_of_text.setdefault(caption.text, caption.facts) == caption.facts, caption.text
            assert consistent(caption, avatar_facts(attributes)), "a caption must be true of its own image"
            for slot, value in caption.facts:
                assert _stated_in_text(slot, value, caption), f"{slot}={value!r} is not in {caption.text!r}"
    assert len(facts_of_text) > 8000
    # the coarse and fine forms of one-phrase groups read the same and state the same
    assert compose({"glasses_kind": "none"}) == compose({"glasses": "no glasses"})
    assert compose({"hair_length": "bald"}) == compose({"hair": "a bald head"})


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
    assert "a cartoon avatar with red hair" in prompts("hair_color", "red")
    assert "a cartoon avatar wearing red clothes" in prompts("clothing_color", "red")
    assert prompts("glasses", fact_value("glasses", "SUNGLASSES")) == prompts("glasses", fact_value("glasses", "SUNGLASSES_2"))


def test_bad_input_is_named():
    attributes = draw_attributes(0, 0)
    broken = {k: v for k, v in attributes.items() if k != "skin"}
    with pytest.raises(CaptionError, match="lack 'skin'"):
        avatar_caption(broken, 0, 0, 0)
    with pytest.raises(CaptionError, match="mouth 'YAWN' has no caption phrase"):
        avatar_caption({**attributes, "mouth": "YAWN"}, 0, 0, 0)
    with pytest.raises(CaptionError, match=r"unknown avatar caption template 'poem'.*avatar_with"):
        compose({"skin": "pale skin"}, template="poem")
    with pytest.raises(CaptionError, match="at least one fact"):
        compose({})
    with pytest.raises(CaptionError, match="use fact_value"):
        compose({"skin": "PALE"})
    with pytest.raises(CaptionError, match="no colour to state"):
        compose({"hair_color": "HIDDEN"})
    with pytest.raises(CaptionError, match="has no name"):
        emoji_caption({"name": "", "category": "Symbols"}, 0, 0)


def test_emoji_captions_use_name_and_keywords_never_the_category_and_fall_back_without_keywords():
    record = {"name": "grinning face", "category": "Smileys & Emotion", "skin_tone": None,
              "keywords": emoji_keywords(["grinning", "grinning_face"], "grinning face")}
    assert record["keywords"] == ["grinning"]
    first = emoji_caption(record, 0, 5, 0)
    assert first.text == "an emoji of grinning face"
    texts = [emoji_caption(record, 0, 5, v).text for v in range(1, 30)]
    assert any("also called grinning" in t for t in texts)
    # chapter 02 clusters emoji by category with ToonCLIP: no caption, fact or vocabulary word may carry it
    assert not any("smileys" in t or "category" in t for t in [first.text, *texts])
    assert all("Smileys" not in str(emoji_caption(record, 0, 5, v).facts) for v in range(30))
    corpus = " ".join(captions.caption_corpus([record])).lower()
    assert "smileys" not in corpus and "category" not in corpus
    bare = {**record, "keywords": []}
    assert all("also called" not in emoji_caption(bare, 0, 5, v).text for v in range(30))
    toned = emoji_caption({**record, "skin_tone": "medium"}, 0, 5, 0)
    assert "grinning face, medium skin tone" in toned.text and isinstance(toned, Caption)

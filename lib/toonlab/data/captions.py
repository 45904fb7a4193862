"""Captions written from data: a sentence for every avatar (from its attributes) and every emoji (from its
name, skin tone and keywords — never its category), for training and evaluating ToonCLIP.

A caption is built from *facts* — ``(slot, value)`` pairs such as ``("glasses", "round glasses")`` or, at
the coarse level, ``("glasses_kind", "glasses")`` — so the training loss can tell which images a caption is
true of (:func:`consistent`) and never pushes an image away from a caption that also describes it. Fact
values are the words the caption uses (python-avatars' SUNGLASSES and SUNGLASSES_2 are both
``"sunglasses"``), so two captions with the same text state the same facts, and every stated fact is in
the text (hair colour is folded into every hair style that shows hair: "a red mohawk").

Emoji categories are left out on purpose: chapter 02 clusters emoji by category with ToonCLIP features, so
ToonCLIP never sees emoji category labels, and that clustering stays unsupervised with respect to them.

Decisions (they were made together; see ``data/weights/toonclip.json`` for the run that uses them):

- **Several templates and shuffled attribute orders.** Each avatar has ``variants`` captions; variant 0
  states every visible attribute in a fixed template (what retrieval is evaluated on), the others pick a
  template, an order, a random subset of the facts and, per fact, the fine phrase ("round glasses") or
  the coarse one ("glasses"). The text tower therefore cannot learn one fixed string, and short captions
  ("a cartoon avatar with glasses") are in the training distribution — which makes single-attribute
  zero-shot prompts in-distribution: :func:`prompt` is the same composer with one fact.
- **What is left out.** Eyebrows, nose and facial-hair colour are a few pixels at 64 px (the toon
  classifier's eyebrow head is at chance), so no caption mentions them; hair colour is stated only when
  hair shows (not under headwear or for a bald head); clothing colour only for the plain garments whose
  colour the drawing takes.
- **Determinism.** Caption ``variant`` of avatar ``index`` drawn with ``seed`` comes from its own
  ``random.Random(f"caption:{seed}:{index}:{variant}")``: the same on every machine and independent of
  how many captions are asked for.
- **Colours** ride on their noun ("long red hair", "a red hoodie") or, in a quarter of the captions that
  state one, stand alone ("red hair", "red clothes"): the form the colour prompts use.
- **Bad input.** A missing or unknown attribute value raises :class:`CaptionError` naming it; an unknown
  template key raises it listing the known ones; an emoji without keywords gets a caption without the
  keyword clause (documented fallback), an emoji without a name raises.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from toonlab.data.errors import DataSourceError


class CaptionError(DataSourceError):
    """An avatar or emoji record cannot be captioned (missing attribute, unknown value or template)."""


# ---------------------------------------------------------------------------------------------------
# avatar phrases: enum member name (python-avatars, see toonlab.data.sources.avatars) -> words

# hair style -> (phrase, length group). Groups follow Avataaars' own LongHair*/ShortHair* families for its
# original styles; for python-avatars' extra styles they are our reading of the drawings. ``{c}`` marks
# where the hair colour goes ("a red mohawk", "long curly red hair"), so every style that shows hair can
# state its colour; headwear hides the hair, so those styles have no ``{c}`` and no hair colour.
HAIR: dict[str, tuple[str, str]] = {
    "NONE": ("a bald head", "bald"),
    "BIG_HAIR": ("big long {c}hair", "long"), "BOB": ("a long {c}bob", "long"),
    "BUN": ("long {c}hair in a bun", "long"), "CURLY": ("long curly {c}hair", "long"),
    "CURVY": ("long wavy {c}hair", "long"), "DREADS": ("long {c}dreads", "long"),
    "FRIDA": ("long {c}hair with flowers", "long"), "FRO": ("a long {c}afro", "long"),
    "FRO_BAND": ("a long {c}afro with a band", "long"), "LONG_NOT_TOO_LONG": ("shoulder-length {c}hair", "long"),
    "MIA_WALLACE": ("a long {c}bob with bangs", "long"), "SHAVED_SIDES": ("long {c}hair with shaved sides", "long"),
    "STRAIGHT_1": ("long straight {c}hair", "long"), "STRAIGHT_2": ("long straight {c}hair", "long"),
    "STRAIGHT_STRAND": ("long straight {c}hair with a strand", "long"), "BRAIDS": ("long {c}braids", "long"),
    "LONG_HAIR_CURLY": ("long curly {c}hair", "long"), "LOOSE_HAIR": ("long loose {c}hair", "long"),
    "TWIST_LONG_HAIR": ("long twisted {c}hair", "long"), "TWIST_LONG_HAIR_2": ("long twisted {c}hair", "long"),
    "WICK": ("shoulder-length {c}hair", "long"), "CURLY_2": ("long curly {c}hair", "long"),
    "DREADLOCKS": ("long {c}dreadlocks", "long"),
    "CAESAR_SIDE_PART": ("short side-parted {c}hair", "short"), "CAESAR": ("a short {c}caesar cut", "short"),
    "FRIZZLE": ("short frizzy {c}hair", "short"), "SHAGGY_MULLET": ("a shaggy {c}mullet", "short"),
    "SHAGGY": ("short shaggy {c}hair", "short"), "SHORT_CURLY": ("short curly {c}hair", "short"),
    "SHORT_DREADS_1": ("short {c}dreads", "short"), "SHORT_DREADS_2": ("short {c}dreads", "short"),
    "SHORT_FLAT": ("short flat {c}hair", "short"), "SHORT_ROUND": ("short round {c}hair", "short"),
    "SHORT_WAVED": ("short wavy {c}hair", "short"), "SIDES": ("{c}hair only on the sides", "short"),
    "BUZZCUT": ("a {c}buzzcut", "short"), "CORNROWS": ("short {c}cornrows", "short"),
    "EINSTEIN_HAIR": ("wild white-scientist {c}hair", "short"), "ELVIS": ("a short {c}quiff", "short"),
    "EVIL_SPIKE": ("short spiky {c}hair", "short"), "HALF_SHAVED": ("half-shaved short {c}hair", "short"),
    "MOHAWK": ("a {c}mohawk", "short"), "MOWGLI": ("short messy {c}hair", "short"),
    "PIXIE": ("a {c}pixie cut", "short"), "POMPADOUR": ("a {c}pompadour", "short"),
    "QUIFF": ("a {c}quiff", "short"), "WILD": ("short wild {c}hair", "short"),
    # "a brimmed hat", not "a hat": "a hat" is the coarse hair-length phrase for every headwear
    "ASTRONAUT": ("an astronaut helmet", "headwear"), "BRIDE": ("a bridal veil", "headwear"),
    "HAT": ("a brimmed hat", "headwear"), "HIJAB": ("a hijab", "headwear"), "TURBAN": ("a turban", "headwear"),
    "WINTER_HAT_1": ("a winter hat", "headwear"), "WINTER_HAT_2": ("a winter hat", "headwear"),
    "WINTER_HAT_3": ("a winter hat", "headwear"), "WINTER_HAT_4": ("a winter hat", "headwear"),
    "CHEF_CAP": ("a chef's hat", "headwear"), "JEDI": ("a hood", "headwear"),
    "GLADIATOR_HELMET": ("a gladiator helmet", "headwear"),
}
HAIR_LENGTH = {"long": "long hair", "short": "short hair", "headwear": "a hat", "bald": "a bald head"}
HAIR_COLOR = {
    "AUBURN": "auburn", "BLACK": "black", "BLONDE": "blonde", "BLONDE_GOLDEN": "golden blonde", "BROWN": "brown",
    "BROWN_DARK": "dark brown", "PASTEL_PINK": "pink", "PLATINUM": "platinum", "RED": "red",
    "SILVER_GRAY": "grey",
}
GLASSES: dict[str, tuple[str, str]] = {
    "NONE": ("no glasses", "none"), "EYEPATCH": ("an eyepatch", "eyepatch"), "KURT": ("white round glasses", "glasses"),
    "PRESCRIPTION_1": ("thin glasses", "glasses"), "PRESCRIPTION_2": ("thick glasses", "glasses"),
    "ROUND": ("round glasses", "glasses"), "SUNGLASSES": ("sunglasses", "glasses"),
    "SUNGLASSES_2": ("sunglasses", "glasses"), "WAYFARERS": ("wayfarer glasses", "glasses"),
    "WAYFARERS_2": ("wayfarer glasses", "glasses"),
}
GLASSES_KIND = {"glasses": "glasses", "none": "no glasses", "eyepatch": "an eyepatch"}
FACIAL_HAIR: dict[str, tuple[str, str]] = {
    "NONE": ("no beard", "none"), "BEARD_LIGHT": ("a light beard", "beard"), "BEARD_MAGESTIC": ("a big beard", "beard"),
    "BEARD_MEDIUM": ("a medium beard", "beard"), "WICK_BEARD": ("a stubble beard", "beard"),
    "MOUSTACHE_FANCY": ("a fancy moustache", "moustache"), "MOUSTACHE_MAGNUM": ("a thick moustache", "moustache"),
    "EINSTEIN_MOUSTACHE": ("a bushy moustache", "moustache"),
}
FACIAL_HAIR_KIND = {"beard": "a beard", "moustache": "a moustache", "none": "no beard"}
SKIN = {"TANNED": "tanned skin", "YELLOW": "yellow skin", "PALE": "pale skin", "LIGHT": "light skin",
        "BROWN": "brown skin", "DARK_BROWN": "dark brown skin", "BLACK": "black skin"}
MOUTH = {
    "CONCERNED": "a concerned mouth", "DEFAULT": "a neutral mouth", "DISBELIEF": "an open mouth in disbelief",
    "EATING": "an eating mouth", "GRIMACE": "a grimace", "SAD": "a sad mouth", "SCREAM_OPEN": "a screaming mouth",
    "SERIOUS": "a serious mouth", "SMILE": "a smile", "TONGUE": "the tongue out", "TWINKLE": "a twinkling smile",
    "VOMIT": "a vomiting mouth", "BIG_SMILE": "a wide smile",
}
EYES = {
    "CLOSED": "closed eyes", "CRY": "crying eyes", "DEFAULT": "plain eyes", "EYE_ROLL": "rolling eyes",
    "HAPPY": "happy eyes", "HEART": "heart eyes", "SIDE": "eyes looking sideways", "SQUINT": "squinting eyes",
    "SURPRISED": "surprised eyes", "WINK_WACKY": "a wacky wink", "WINK": "a wink", "X_DIZZY": "dizzy x eyes",
}
# garment -> (noun, takes a colour). Costumes are drawn in fixed colours, so their colour is not stated.
CLOTHING: dict[str, tuple[str, bool]] = {
    "NONE": ("nothing on the shoulders", False), "BLAZER_SHIRT": ("blazer over a shirt", True),
    "BLAZER_SWEATER": ("blazer over a sweater", True), "COLLAR_SWEATER": ("collared sweater", True),
    "GRAPHIC_SHIRT": ("graphic t-shirt", True), "HOODIE": ("hoodie", True), "OVERALL": ("overalls", True),
    "SHIRT_CREW_NECK": ("crew-neck shirt", True), "SHIRT_SCOOP_NECK": ("scoop-neck shirt", True),
    "SHIRT_V_NECK": ("v-neck shirt", True), "ASTRONAUT_SUIT": ("astronaut suit", False),
    "BOND_SUIT": ("tuxedo", False), "CHEF": ("chef's jacket", False), "GLADIATOR": ("gladiator armour", False),
    "JEDI_ROBE": ("jedi robe", False), "SHIRT_WICK": ("black suit", False),
}
CLOTHING_COLOR = {
    "BLACK": "black", "BLUE_01": "pale blue", "BLUE_02": "blue", "BLUE_03": "navy blue", "GRAY_01": "light grey",
    "GRAY_02": "dark grey", "HEATHER": "heather grey", "PASTEL_BLUE": "pastel blue", "PASTEL_GREEN": "pastel green",
    "PASTEL_ORANGE": "pastel orange", "PASTEL_YELLOW": "pastel yellow", "PINK": "pink", "RED": "red",
    "WHITE": "white",
}
CAPTIONED_ATTRIBUTES = ("hair", "hair_color", "glasses", "facial_hair", "skin", "mouth", "eyes", "clothing",
                        "clothing_color")

# Templates: {with} is the list of "with" facts, {wear} the garment. Each has a form for captions that
# have only one of the two.
AVATAR_TEMPLATES: dict[str, tuple[str, str, str]] = {
    # key: (both, only with, only wear)
    "avatar_with": ("a cartoon avatar with {with}, wearing {wear}", "a cartoon avatar with {with}",
                    "a cartoon avatar wearing {wear}"),
    "avatar_wearing": ("a cartoon avatar wearing {wear}, with {with}", "a cartoon avatar with {with}",
                       "a cartoon avatar wearing {wear}"),
    "character": ("a cartoon character with {with} who wears {wear}", "a cartoon character with {with}",
                  "a cartoon character who wears {wear}"),
    "drawing": ("a drawing of a person with {with}, wearing {wear}", "a drawing of a person with {with}",
                "a drawing of a person wearing {wear}"),
}
EMOJI_TEMPLATES: dict[str, str] = {
    "emoji_of": "an emoji of {name}",
    "emoji_icon": "a {name} emoji",
    "emoji_picture": "a cartoon emoji picture of {name}",
}
FULL_TEMPLATE = "avatar_with"  # variant 0 of every avatar: all facts, fine phrases, fixed order
FACT_ORDER = ("hair", "glasses", "facial_hair", "skin", "mouth", "eyes")


@dataclass(frozen=True)
class Caption:
    """A caption and the facts it states, as ``(slot, value)`` pairs."""

    text: str
    facts: tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------------------------------
# facts of an avatar


# Facts are keyed by the words they produce, not by python-avatars' value names: SUNGLASSES and
# SUNGLASSES_2 both read "sunglasses", so a caption saying "sunglasses" is true of both, and the
# false-negative mask (:func:`consistent`) has to see one value. FINE_SLOTS hold each fine slot's
# python-avatars name -> words, COARSE their name -> group.
FINE_SLOTS: dict[str, dict[str, str]] = {
    "hair": {name: phrase.replace("{c}", "") for name, (phrase, _) in HAIR.items()},
    "glasses": {name: phrase for name, (phrase, _) in GLASSES.items()},
    "facial_hair": {name: phrase for name, (phrase, _) in FACIAL_HAIR.items()},
    "skin": SKIN, "mouth": MOUTH, "eyes": EYES,
    "clothing": {name: noun for name, (noun, _) in CLOTHING.items()},
    "hair_color": HAIR_COLOR, "clothing_color": CLOTHING_COLOR,
}
COARSE_SLOTS: dict[str, tuple[str, dict[str, str]]] = {  # coarse slot -> (its fine slot, fine name -> group)
    "hair_length": ("hair", {name: group for name, (_, group) in HAIR.items()}),
    "glasses_kind": ("glasses", {name: group for name, (_, group) in GLASSES.items()}),
    "facial_hair_kind": ("facial_hair", {name: group for name, (_, group) in FACIAL_HAIR.items()}),
}
COARSE_PHRASES = {"hair_length": HAIR_LENGTH, "glasses_kind": GLASSES_KIND, "facial_hair_kind": FACIAL_HAIR_KIND}
_HAIR_FORM = {phrase.replace("{c}", ""): phrase for phrase, _ in HAIR.values()}  # words -> where the colour goes
_GROUP_OF_WORDS = {coarse: {FINE_SLOTS[fine][name]: group for name, group in groups.items()}
                   for coarse, (fine, groups) in COARSE_SLOTS.items()}


def _check_tables() -> None:
    """One set of words must never mean two things (else the facts of a caption would not follow from its text)."""
    for coarse, (fine, groups) in COARSE_SLOTS.items():
        for name, group in groups.items():
            if _GROUP_OF_WORDS[coarse][FINE_SLOTS[fine][name]] != group:
                raise AssertionError(f"{fine} phrase {FINE_SLOTS[fine][name]!r} is in two {coarse} groups")
        fine_words = set(FINE_SLOTS[fine].values())
        for group, words in COARSE_PHRASES[coarse].items():
            members = {w for w, g in _GROUP_OF_WORDS[coarse].items() if g == group}
            if words in fine_words and members != {words}:
                raise AssertionError(f"{coarse} phrase {words!r} is also a {fine} phrase of a different group")
    for phrase, _ in HAIR.values():
        if _HAIR_FORM[phrase.replace("{c}", "")] != phrase:
            raise AssertionError(f"hair phrase {phrase!r} places its colour in two ways")


_check_tables()


def fact_value(slot: str, name: str) -> str:
    """The fact value for python-avatars' value ``name`` in ``slot``: its words for a fine slot
    ("SUNGLASSES_2" -> "sunglasses"), its group for a coarse one ("SUNGLASSES_2" -> "glasses")."""
    table = COARSE_SLOTS[slot][1] if slot in COARSE_SLOTS else FINE_SLOTS.get(slot)
    if table is None:
        raise CaptionError(f"no avatar slot {slot!r}; known slots: {sorted(FINE_SLOTS) + sorted(COARSE_SLOTS)}")
    if name not in table:
        raise CaptionError(f"avatar {slot} {name!r} has no caption phrase; known values: {sorted(table)}. "
                           f"Add it to toonlab.data.captions if python-avatars gained a new part")
    return table[name]


def avatar_facts(attributes: Mapping[str, object]) -> dict[str, str]:
    """Every slot an avatar fills, fine (by words: ``"hair": "a mohawk"``) and coarse (``hair_length``,
    ``glasses_kind``, ``facial_hair_kind`` by group); hair colour ``HIDDEN`` under headwear or on a bald
    head, clothing colour ``FIXED`` for costumes drawn in their own colours."""
    for attribute in CAPTIONED_ATTRIBUTES:
        if attribute not in attributes or attributes[attribute] in (None, ""):
            raise CaptionError(f"avatar attributes lack {attribute!r} (got {sorted(attributes)}); captions need "
                               f"every one of {list(CAPTIONED_ATTRIBUTES)} — draw them with "
                               f"toonlab.data.sources.avatars.draw_attributes")
    facts = {"kind": "avatar"}
    for slot in ("hair", "glasses", "facial_hair", "skin", "mouth", "eyes", "clothing", "hair_color",
                 "clothing_color"):
        facts[slot] = fact_value(slot, str(attributes[slot]))
    for coarse, (fine, _) in COARSE_SLOTS.items():
        facts[coarse] = fact_value(coarse, str(attributes[fine]))
    # colours only where the drawing shows them (a colour no one can see would be a false fact)
    if facts["hair_length"] not in ("long", "short"):
        facts["hair_color"] = "HIDDEN"
    if not CLOTHING[str(attributes["clothing"])][1]:
        facts["clothing_color"] = "FIXED"
    return facts


def _phrase(slot: str, value: str, colour: str | None = None) -> str:
    """The words for one fact; ``colour`` folds a hair or clothing colour into its noun phrase."""
    if slot == "hair":
        return _HAIR_FORM[value].replace("{c}", f"{colour} " if colour else "")
    if slot == "hair_length":
        phrase = HAIR_LENGTH[value]
        return phrase.replace("hair", f"{colour} hair") if colour and value in ("long", "short") else phrase
    if slot in COARSE_PHRASES:
        return COARSE_PHRASES[slot][value]
    if slot in ("glasses", "facial_hair", "skin", "mouth", "eyes"):
        return value
    if slot == "clothing":
        noun = value
        if noun == CLOTHING["NONE"][0]:
            return noun
        article = "an" if (colour or noun)[0] in "aeiou" else "a"
        if noun in ("overalls", "gladiator armour"):  # no article
            return f"{colour} {noun}" if colour else noun
        return f"{article} {colour} {noun}" if colour else f"{article} {noun}"
    raise CaptionError(f"no phrase for slot {slot!r}")


def _implied(facts: Mapping[str, str]) -> dict[str, str]:
    """``facts`` plus what their words imply: a fine phrase its group ("sunglasses": glasses), and a group
    with one phrase that phrase ("no glasses" is the fine NONE and the coarse none alike) — so two captions
    with the same text state the same facts."""
    stated = dict(facts)
    for coarse, (fine, _) in COARSE_SLOTS.items():
        if fine in stated:
            stated[coarse] = _GROUP_OF_WORDS[coarse][stated[fine]]
        elif coarse in stated:
            members = [w for w, g in _GROUP_OF_WORDS[coarse].items() if g == stated[coarse]]
            if len(members) == 1 and members[0] == COARSE_PHRASES[coarse][stated[coarse]]:
                stated[fine] = members[0]
    return stated


def compose(facts: Mapping[str, str], template: str = FULL_TEMPLATE, order: Sequence[str] | None = None) -> Caption:
    """Write the caption that states exactly ``facts`` (slot -> value, values as :func:`avatar_facts` gives
    them) with ``template``.

    ``facts`` may hold any subset of the slots of :func:`avatar_facts` (fine or coarse, not both for one
    part); ``hair_color`` / ``clothing_color`` are folded into the hair / garment phrase. The caption's
    facts are the given ones plus what their words imply (:func:`_implied`).
    """
    if template not in AVATAR_TEMPLATES:
        raise CaptionError(f"unknown avatar caption template {template!r}; known templates: {sorted(AVATAR_TEMPLATES)}")
    facts = {k: v for k, v in facts.items() if k != "kind"}
    if not facts:
        raise CaptionError("a caption needs at least one fact")
    for slot, value in facts.items():
        known = COARSE_PHRASES[slot] if slot in COARSE_PHRASES else (
            set(FINE_SLOTS[slot].values()) if slot in FINE_SLOTS else None)
        if known is None:
            raise CaptionError(f"no avatar slot {slot!r}; known slots: {sorted(FINE_SLOTS) + sorted(COARSE_SLOTS)}")
        if value not in known:
            hint = (" (hidden hair and fixed-colour costumes have no colour to state; leave the colour out)"
                    if value in ("HIDDEN", "FIXED") else
                    " (facts hold words, not python-avatars names: use fact_value)")
            raise CaptionError(f"{slot} value {value!r} is not one of {sorted(known)}{hint}")
    hair_slot = "hair" if "hair" in facts else "hair_length" if "hair_length" in facts else None
    colour = facts.get("hair_color")
    clothing_colour = facts.get("clothing_color")
    order = list(order) if order is not None else list(FACT_ORDER)
    parts: list[str] = []
    for part in order:
        if part == "hair" and hair_slot is None and colour is not None:
            parts.append(f"{colour} hair")  # colour alone: "red hair"
            continue
        slot = {"hair": hair_slot, "glasses": "glasses" if "glasses" in facts else "glasses_kind",
                "facial_hair": "facial_hair" if "facial_hair" in facts else "facial_hair_kind"}.get(part, part)
        if slot is None or slot not in facts:
            continue
        parts.append(_phrase(slot, facts[slot], colour if slot == hair_slot else None))
    with_list = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}" if parts else ""
    wear = None
    if "clothing" in facts:
        wear = _phrase("clothing", facts["clothing"], clothing_colour)
    elif clothing_colour is not None:
        wear = f"{clothing_colour} clothes"  # colour alone: "wearing red clothes"
    both, only_with, only_wear = AVATAR_TEMPLATES[template]
    if with_list and wear:
        text = both.format(**{"with": with_list, "wear": wear})
    elif with_list:
        text = only_with.format(**{"with": with_list})
    else:
        text = only_wear.format(wear=wear)
    stated = {**_implied(facts), "kind": "avatar"}
    return Caption(text, tuple(sorted(stated.items())))


def avatar_caption(attributes: Mapping[str, object], seed: int, index: int, variant: int = 0,
                   full_fraction: float = 0.25) -> Caption:
    """Caption ``variant`` of avatar ``index`` drawn with ``seed`` (deterministic; variant 0 is the full one).

    Other variants: with probability ``full_fraction`` every fact, else a random 1..all subset; each part
    fine or coarse at random; a random template and order.
    """
    facts = avatar_facts(attributes)
    if variant == 0:
        chosen = {k: v for k, v in facts.items() if k not in ("hair_length", "glasses_kind", "facial_hair_kind")}
        return compose(_drop_invisible(chosen), FULL_TEMPLATE)
    rng = random.Random(f"caption:{seed}:{index}:{variant}")
    parts = list(FACT_ORDER) + ["clothing"]
    keep = parts if rng.random() < full_fraction else rng.sample(parts, rng.randint(1, len(parts)))
    chosen: dict[str, str] = {}
    for part in keep:
        coarse = {"hair": "hair_length", "glasses": "glasses_kind", "facial_hair": "facial_hair_kind"}.get(part)
        slot = coarse if coarse and rng.random() < 0.5 else part
        chosen[slot] = facts[slot]
    # colours ride on their noun phrase ("long red hair"), sometimes stand alone ("red hair"), as the
    # zero-shot colour prompts do
    for noun, slots, colour_slot in (("hair", ("hair", "hair_length"), "hair_color"),
                                     ("clothing", ("clothing",), "clothing_color")):
        if any(s in chosen for s in slots) and rng.random() < 0.8:
            chosen[colour_slot] = facts[colour_slot]
            if chosen[colour_slot] not in ("HIDDEN", "FIXED") and rng.random() < 0.25:
                for s in slots:
                    chosen.pop(s, None)
    order = list(FACT_ORDER)
    rng.shuffle(order)
    return compose(_drop_invisible(chosen), rng.choice(sorted(AVATAR_TEMPLATES)), order)


def _drop_invisible(facts: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in facts.items() if v not in ("HIDDEN", "FIXED")}


def prompt(slot: str, value: str, template: str = FULL_TEMPLATE) -> str:
    """A zero-shot prompt: the caption that states one fact (in the training distribution by construction)."""
    return compose({slot: value}, template).text


def prompts(slot: str, value: str) -> list[str]:
    """The one-fact prompt in every template (averaged as a prompt ensemble, as CLIP's zero-shot does)."""
    return sorted({prompt(slot, value, template) for template in AVATAR_TEMPLATES})


# ---------------------------------------------------------------------------------------------------
# emoji


def emoji_keywords(short_names: Iterable[str], name: str) -> list[str]:
    """emoji-data's short names as words ("face_with_tears_of_joy" -> "face with tears of joy"), minus the name."""
    words = []
    for short in short_names:
        keyword = short.replace("_", " ").replace("-", " ").strip().lower()
        if keyword and keyword != name and keyword not in words:
            words.append(keyword)
    return words


def emoji_caption(record: Mapping[str, object], seed: int, index: int, variant: int = 0) -> Caption:
    """Caption ``variant`` of one emoji from its manifest record (``name``, optional ``keywords`` and
    ``skin_tone``). Variant 0: name and skin tone in the first template; the others vary the template and
    add the keywords at random. No keywords: the keyword clause is left out (documented fallback).

    The emoji's **category is never used** (a record's ``category`` is ignored): chapter 02 clusters emoji
    by category with ToonCLIP features, so ToonCLIP never sees emoji category labels and that clustering
    stays unsupervised with respect to them."""
    name = str(record.get("name") or "").strip().lower()
    if not name:
        raise CaptionError(f"emoji record {dict(record)} has no name; every emoji caption starts from its name "
                           f"(rebuild the manifest with `python -m toonlab.data manifest emoji`)")
    tone = record.get("skin_tone")
    keywords = [str(k) for k in (record.get("keywords") or [])]
    subject = f"{name}, {tone} skin tone" if tone else name
    rng = random.Random(f"emoji-caption:{seed}:{index}:{variant}")
    template = "emoji_of" if variant == 0 else rng.choice(sorted(EMOJI_TEMPLATES))
    text = EMOJI_TEMPLATES[template].format(name=subject)
    if keywords and variant > 0 and rng.random() < 0.5:
        text += ", also called " + " or ".join(keywords[:2])
    return Caption(text, (("emoji", subject), ("kind", "emoji")))


# ---------------------------------------------------------------------------------------------------
# false negatives


def consistent(caption: Caption, facts: Mapping[str, str]) -> bool:
    """Is every fact the caption states true of an image with these facts? (Then it is no negative.)"""
    return all(facts.get(slot) == value for slot, value in caption.facts)


def caption_corpus(emoji_records: Iterable[Mapping[str, object]] = ()) -> list[str]:
    """Every word the captions and prompts can use: all phrases in every template, plus the emoji names,
    skin tones and keywords (never their categories). ToonCLIP's vocabulary is built from it (see
    :mod:`toonlab.features.toonclip`)."""
    texts = [template for forms in AVATAR_TEMPLATES.values() for template in forms]
    texts += list(EMOJI_TEMPLATES.values()) + [", also called or skin tone"]
    for table in FINE_SLOTS.values():
        texts += list(table.values())
    for table in COARSE_PHRASES.values():
        texts += list(table.values())
    texts += ["a an and, hair clothes"]  # joiners and the colour-only forms
    for record in emoji_records:
        texts.append(" ".join([str(record.get("name") or ""), str(record.get("skin_tone") or ""),
                               *map(str, record.get("keywords") or [])]))
    return texts

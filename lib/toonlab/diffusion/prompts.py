"""The source projects' prompts, and prompt templates x name lists.

- Comics prompted SDXL base (fp16-fix VAE, 25 steps) to approximate its character; the one prompt its
  notebook shows is :data:`COMICS_PROMPTS`. The "few carefully crafted prompts" beyond it are not in the
  repository, so the chapter uses that one (its seeds are not given either: we fix ours).
- PopYou generated its 30,000 training images with a text-to-image model from one template,
  ``"funko pop figure of {name} in a white background"`` over a list of ~300 famous people (the list is not
  in its repository; the book ships its own, see :func:`toonlab.metrics.clip_score.load_people`), and
  reported CLIP similarity for four free-text descriptions with the variant template
  ``"funko pop figure of a {text} in a white background"`` (:data:`POPYOU_TEXT_PROMPTS`).
"""

from __future__ import annotations

from collections.abc import Sequence

from toonlab.metrics.clip_score import POPYOU_TEMPLATE

# Comics, Stable-Diffusion-XL-Prompt.ipynb
COMICS_PROMPTS: tuple[str, ...] = ("a cartoon of girl in a blue unicorn onesie, short pink hair and bangs",)
COMICS_STEPS = 25  # the notebook's num_inference_steps

# PopYou README: free-text descriptions and the CLIP similarity it reports for its GAN+mapper on each
POPYOU_TEXT_TEMPLATE = "funko pop figure of a {text} in a white background"
POPYOU_TEXT_PROMPTS: dict[str, float] = {
    "tall man with a beard and a black shirt": 0.389,
    "woman with a blonde short hair": 0.342,
    "cool man in suite and glasses": 0.354,
    "tall thin man with blue pants and black hair": 0.380,
}
# PopYou README, "Results": CLIP similarity over its 300-name list for the diffusion model it used as data
POPYOU_DECI_CLIP = 0.33
POPYOU_DECI_FID = 258.0
POPYOU_GAN_CLIP = 0.31
POPYOU_GAN_FID = 562.0


def fill(template: str, **values: str) -> str:
    """``template.format(**values)`` with an error that names the missing placeholder."""
    try:
        return template.format(**values)
    except KeyError as error:
        raise ValueError(f"template {template!r} needs a value for {error}; given {sorted(values)}") from None


def expand(templates: Sequence[str], names: Sequence[str], key: str = "name") -> list[str]:
    """Every template filled with every name (template-major order), duplicates refused."""
    if not templates or not names:
        raise ValueError("need at least one template and one name")
    for template in templates:
        if "{" + key + "}" not in template:
            raise ValueError(f"template {template!r} has no {{{key}}} placeholder")
    prompts = [fill(template, **{key: name}) for template in templates for name in names]
    duplicates = sorted({p for p in prompts if prompts.count(p) > 1})
    if duplicates:
        raise ValueError(f"these prompts occur twice: {duplicates[:3]}; remove repeated names or templates")
    return prompts


def popyou_prompts(names: Sequence[str]) -> list[str]:
    """PopYou's data-set prompts for a name list."""
    return expand([POPYOU_TEMPLATE], names)


def popyou_text_prompts() -> list[str]:
    """PopYou's four free-text prompts in its text template."""
    return [fill(POPYOU_TEXT_TEMPLATE, text=text) for text in POPYOU_TEXT_PROMPTS]


__all__ = ["COMICS_PROMPTS", "COMICS_STEPS", "POPYOU_DECI_CLIP", "POPYOU_DECI_FID", "POPYOU_GAN_CLIP",
           "POPYOU_GAN_FID", "POPYOU_TEMPLATE", "POPYOU_TEXT_PROMPTS", "POPYOU_TEXT_TEMPLATE", "expand", "fill",
           "popyou_prompts", "popyou_text_prompts"]

"""CLIP-T / CLIP-I: normalisation, cosine and scaling match a hand computation; the PopYou name list."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.transforms.functional import to_tensor

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.clip_score import (
    POPYOU_TEMPLATE,
    clip_i,
    clip_t,
    cosine_matrix,
    cosine_pairs,
    embed_images,
    l2_normalize,
    load_people,
    popyou_prompts,
)

# ---------------------------------------------------------------------------------------------------
# a CLIP whose embeddings we can compute by hand


class HandClipModel(nn.Module):
    """encode_image -> mean RGB of the preprocessed image; encode_text -> the token vector itself."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.float()


TEXT_VECTORS = {"red": [3.0, 0.0, 0.0], "yellow": [2.0, 2.0, 0.0], "blue": [0.0, 0.0, 5.0]}


class HandClip:
    model = HandClipModel()
    preprocess = staticmethod(to_tensor)

    @staticmethod
    def tokenizer(texts):
        return torch.tensor([TEXT_VECTORS[text] for text in texts])


def solid(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (8, 8), rgb)


# ---------------------------------------------------------------------------------------------------
# arithmetic


def test_cosine_and_normalisation_by_hand():
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])
    assert torch.allclose(l2_normalize(a), torch.tensor([[0.6, 0.8]]))
    assert cosine_pairs(a, b).item() == pytest.approx(24 / 25)
    # scale does not matter to a cosine
    assert cosine_pairs(a * 10, b * 0.1).item() == pytest.approx(24 / 25)
    matrix = cosine_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, -3.0]]))
    expected = torch.tensor([[1 / math.sqrt(2), 0.0], [1 / math.sqrt(2), -1.0]])
    assert torch.allclose(matrix, expected)


def test_clip_t_and_clip_i_on_hand_embeddings():
    images = [solid((255, 0, 0)), solid((255, 255, 0)), solid((0, 0, 255))]
    # red image vs "red": cos 1; yellow image (1,1,0) vs "red" (1,0,0): 1/sqrt2; blue vs "blue": 1
    score = clip_t(HandClip, images, ["red", "red", "blue"])
    assert score.per_item.tolist() == pytest.approx([1.0, 1 / math.sqrt(2), 1.0])
    assert score.mean == pytest.approx((2 + 1 / math.sqrt(2)) / 3)
    assert score.scale == 1.0 and "cosine" in score.describe() and "×100" not in score.describe()
    hundred = clip_t(HandClip, images, ["red", "red", "blue"], scale=100)
    assert hundred.mean == pytest.approx(100 * score.mean) and "×100" in hundred.describe()

    # CLIP-I averages every generated-reference pair: red vs {red, yellow} = (1 + 1/sqrt2) / 2
    pairwise = clip_i(HandClip, [solid((255, 0, 0))], [solid((255, 0, 0)), solid((255, 255, 0))])
    assert pairwise.mean == pytest.approx((1 + 1 / math.sqrt(2)) / 2) and pairwise.n == 2


def test_tensor_images_embed_like_the_pil_images_they_become():
    pil = [solid((255, 0, 0)), solid((10, 200, 30))]
    tensor = torch.stack([to_tensor(image) for image in pil])
    assert torch.allclose(embed_images(HandClip, pil), embed_images(HandClip, tensor))


def test_bad_inputs_fail_clearly():
    with pytest.raises(MetricInputError, match="2 images but 1 prompts"):
        clip_t(HandClip, [solid((255, 0, 0))] * 2, ["red"])
    with pytest.raises(MetricInputError, match="empty or not strings"):
        clip_t(HandClip, [solid((255, 0, 0))], [""])
    with pytest.raises(MetricInputError, match="in \\[0, 1\\]"):
        embed_images(HandClip, torch.full((1, 3, 8, 8), 2.0))
    with pytest.raises(MetricInputError, match="empty"):
        embed_images(HandClip, [])
    with pytest.raises(MetricInputError, match="all-zero"):
        embed_images(HandClip, [solid((0, 0, 0))])  # a black image has no direction in this toy model
    with pytest.raises(MetricInputError, match="same shape"):
        cosine_pairs(torch.ones(2, 3), torch.ones(3, 3))
    with pytest.raises(MetricInputError, match="NaN"):
        l2_normalize(torch.tensor([[float("nan"), 1.0]]))


# ---------------------------------------------------------------------------------------------------
# the real open_clip path (tiny random CLIP from the zoo)


def test_tiny_open_clip_gives_deterministic_bounded_scores():
    from toonlab.zoo.clip import tiny_clip

    clip = tiny_clip(seed=0)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 40, 40, generator=generator)
    prompts = popyou_prompts(["Barack Obama", "Alan Turing", "Marie Curie"])
    first = clip_t(clip, images, prompts)
    again = clip_t(tiny_clip(seed=0), images, prompts)
    assert first.per_item.tolist() == again.per_item.tolist()
    assert all(-1.0 <= value <= 1.0 for value in first.per_item)
    similarity = clip_i(clip, images, images)
    assert similarity.n == 9 and similarity.mean <= 1.0
    assert torch.allclose(embed_images(clip, images).norm(dim=1), torch.ones(3))


# ---------------------------------------------------------------------------------------------------
# the PopYou protocol


def test_the_shipped_name_list_has_300_unique_documented_names(repo):
    names = load_people()
    assert len(names) == 300 and len(set(names)) == 300
    assert {"Barack Obama", "Alan Turing"} <= set(names)  # PopYou's own README examples
    header = (repo / "data" / "people_300.txt").read_text().splitlines()[0]
    assert header.startswith("#")
    assert all(name == name.strip() and not name.startswith("#") for name in names)


def test_popyou_prompt_template():
    assert POPYOU_TEMPLATE == "funko pop figure of {name} in a white background"
    assert popyou_prompts(["Alan Turing"]) == ["funko pop figure of Alan Turing in a white background"]
    with pytest.raises(ValueError, match="name"):
        popyou_prompts(["x"], template="no placeholder")


def test_a_name_list_with_duplicates_is_rejected(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("# test\nAda Lovelace\n\nAda Lovelace\n")
    with pytest.raises(ValueError, match="more than once"):
        load_people(path)
    with pytest.raises(FileNotFoundError, match="ships with the repository"):
        load_people(tmp_path / "missing.txt")

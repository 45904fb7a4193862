"""The model zoo: one place that says which model plays which role in which profile.

``full`` uses the source projects' pretrained choices (hub ids below); ``gpu`` runs offline and so loads
the same pretrained weights only if they are already cached; ``ci`` builds tiny randomly initialised
models of the same classes from configs (the way diffusers tests its pipelines). Missing weights raise
:class:`WeightsMissingError` at once with what to download — never a hang, never random weights in
``full``/``gpu``.

Roles with a model trained here (DESIGN.md, "Models trained here") resolve to it in the offline
profiles (:data:`OFFLINE_PROFILES`): ``clip`` and ``clip_b32`` are ToonCLIP there, labelled
"ToonCLIP (trained here on avatars/emoji)" — never OpenAI or LAION CLIP.

    >>> from toonlab import zoo
    >>> clip = zoo.load("clip", "ci")            # tiny random open_clip CLIP + real BPE tokenizer
    >>> zoo.describe("clip", "full")            # 'open_clip ViT-L-14 laion2b_s32b_b82k (PopYou, CelebrityLook)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from toonlab.params import PROFILES
from toonlab.zoo.errors import WeightsMissingError

__all__ = ["OFFLINE_PROFILES", "ROLES", "Role", "TOONCLIP", "WeightsMissingError", "describe", "load", "roles"]


@dataclass(frozen=True)
class Role:
    """A job a model does in the book, with its ``full`` checkpoint and how to build each profile's model."""

    name: str
    hub_id: str  # what `full` loads (for display and download instructions)
    used_by: str  # which source project(s) made this choice
    load_pretrained: Callable[..., Any]
    build_tiny: Callable[..., Any]
    tiny_description: str
    load_offline: Callable[..., Any] | None = None  # a model trained here, for the offline profiles
    offline_description: str = ""


def _clip_full(device: str = "cpu", **_: Any):
    from toonlab.zoo.clip import pretrained_clip

    return pretrained_clip("ViT-L-14", "laion2b_s32b_b82k", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", device)


def _clip_b32_full(device: str = "cpu", **_: Any):
    from toonlab.zoo.clip import pretrained_clip

    return pretrained_clip("ViT-B-32", "openai", "timm/vit_base_patch32_clip_224.openai", device)


def _clip_tiny(device: str = "cpu", seed: int = 0, **_: Any):
    from toonlab.zoo.clip import tiny_clip

    return tiny_clip(seed=seed, device=device)


def _toonclip(device: str = "cpu", **_: Any):
    from toonlab.zoo.clip import toonclip

    return toonclip(device)


TOONCLIP = "ToonCLIP (trained here on avatars/emoji)"
# The profiles that run offline on real (not tiny random) models: there the roles with a network trained
# here use it. Intersected with PROFILES so a profile added later (``cpu``) is picked up by its name alone.
OFFLINE_PROFILES = tuple(p for p in ("cpu", "gpu") if p in PROFILES)


def _sd_full(repo_id: str) -> Callable[..., Any]:
    def load(device: str = "cpu", dtype: Any = None, **_: Any):
        from toonlab.zoo.diffusion import pretrained_sd_pipeline

        return pretrained_sd_pipeline(repo_id, device, dtype)

    return load


def _sd_tiny(device: str = "cpu", seed: int = 0, **_: Any):
    from toonlab.zoo.diffusion import tiny_sd_pipeline

    return tiny_sd_pipeline(seed=seed, device=device)


def _sdxl_full(device: str = "cpu", dtype: Any = None, **_: Any):
    from toonlab.zoo.diffusion import pretrained_sdxl_pipeline

    return pretrained_sdxl_pipeline("stabilityai/stable-diffusion-xl-base-1.0", "madebyollin/sdxl-vae-fp16-fix",
                                    device, dtype)


def _sdxl_tiny(device: str = "cpu", seed: int = 0, **_: Any):
    from toonlab.zoo.diffusion import tiny_sdxl_pipeline

    return tiny_sdxl_pipeline(seed=seed, device=device)


def _memoji_base_full(device: str = "cpu", dtype: Any = None, **_: Any):
    from toonlab.zoo.diffusion import pretrained_sdxl_pipeline

    return pretrained_sdxl_pipeline(MEMOJI_BASE, "madebyollin/sdxl-vae-fp16-fix", device, dtype)


def _controlnet_full(device: str = "cpu", dtype: Any = None, **_: Any):
    from toonlab.zoo.diffusion import pretrained_controlnet

    return pretrained_controlnet(CONTROLNET_CANNY_SDXL, device, dtype)


def _controlnet_tiny(device: str = "cpu", seed: int = 0, **_: Any):
    from toonlab.zoo.diffusion import tiny_sdxl_controlnet

    return tiny_sdxl_controlnet(seed=seed, device=device)


MEMOJI_BASE = "imagepipeline/Samaritan-3d-Cartoon-SDXL"
CONTROLNET_CANNY_SDXL = "diffusers/controlnet-canny-sdxl-1.0"


def _shap_e_full(device: str = "cpu", dtype: Any = None, **_: Any):
    from toonlab.zoo.shap_e import pretrained_shap_e_img2img

    return pretrained_shap_e_img2img(device, dtype)


def _shap_e_tiny(device: str = "cpu", seed: int = 0, **_: Any):
    from toonlab.zoo.shap_e import tiny_shap_e_img2img

    return tiny_shap_e_img2img(seed=seed, device=device)


def _inception(profile: str) -> Callable[..., Any]:
    def load(device: str = "cpu", seed: int = 0, **_: Any):
        from toonlab.zoo.inception import build_inception

        return build_inception(profile, device=device, seed=seed)

    return load


def _dino(profile: str) -> Callable[..., Any]:
    def load(device: str = "cpu", seed: int = 0, **_: Any):
        from toonlab.zoo.dino import build_dino

        return build_dino(profile, device=device, seed=seed)

    return load


ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role("clip", "open_clip ViT-L-14 laion2b_s32b_b82k", "PopYou, CelebrityLook", _clip_full, _clip_tiny,
             "tiny random open_clip CLIP", _toonclip, TOONCLIP),
        Role("clip_b32", "open_clip ViT-B-32 openai", "ToyHollyWood (mapper losses)", _clip_b32_full, _clip_tiny,
             "tiny random open_clip CLIP", _toonclip, TOONCLIP),
        Role("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Comics (DreamBooth)",
             _sd_full("stable-diffusion-v1-5/stable-diffusion-v1-5"), _sd_tiny, "tiny random SD pipeline"),
        Role("sd14", "CompVis/stable-diffusion-v1-4", "Comics (LoRA)", _sd_full("CompVis/stable-diffusion-v1-4"),
             _sd_tiny, "tiny random SD pipeline"),
        Role("sdxl", "stabilityai/stable-diffusion-xl-base-1.0 + madebyollin/sdxl-vae-fp16-fix",
             "Comics (SDXL prompts, DreamBooth+LoRA), MyMemoji", _sdxl_full, _sdxl_tiny, "tiny random SDXL pipeline"),
        Role("memoji_base", f"{MEMOJI_BASE} + madebyollin/sdxl-vae-fp16-fix", "MyMemoji (base checkpoint)",
             _memoji_base_full, _sdxl_tiny, "tiny random SDXL pipeline"),
        Role("controlnet_canny_sdxl", CONTROLNET_CANNY_SDXL, "MyMemoji (diffusers_xl_canny_full, the same weights)",
             _controlnet_full, _controlnet_tiny, "tiny random SDXL ControlNet"),
        Role("shap_e_img2img", "openai/shap-e-img2img", "3D chapter (PopYou showed image-to-3D pictures only)",
             _shap_e_full, _shap_e_tiny, "tiny random Shap-E img2img (marching-cubes table derived here)"),
        Role("inception", "pytorch-fid InceptionV3 (pt_inception-2015-12-05)", "ToyHollyWood, PopYou (FID)",
             _inception("full"), _inception("ci"), "randomly initialised InceptionV3 (fixed seed)"),
        Role("dino", "timm vit_small_patch16_224.dino", "DreamBooth metric (DINO)", _dino("full"), _dino("ci"),
             "tiny random ViT"),
    ]
}


def roles() -> list[str]:
    return sorted(ROLES)


def _role(name: str) -> Role:
    if name not in ROLES:
        raise KeyError(f"unknown model role {name!r}; known roles: {roles()}")
    return ROLES[name]


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")


def describe(name: str, profile: str) -> str:
    """A label for the model a role resolves to — what tables print as "weights"."""
    _check_profile(profile)
    role = _role(name)
    if profile == "ci":
        return f"{role.tiny_description} (stands in for {role.hub_id})"
    if profile in OFFLINE_PROFILES and role.load_offline is not None:
        return f"{role.offline_description} (stands in for {role.hub_id})"
    return f"{role.hub_id} ({role.used_by})"


def load(name: str, profile: str, device: str = "cpu", **kwargs: Any) -> Any:
    """Build or load the model for ``name`` in ``profile``.

    ``ci`` -> tiny random model (``seed`` kwarg, default 0). Offline profiles -> the network trained here
    where the role has one (ToonCLIP for ``clip``), else pretrained weights from the local cache.
    ``full`` -> pretrained weights from the local cache or the hub; WeightsMissingError at once when
    neither can supply them.
    """
    _check_profile(profile)
    role = _role(name)
    if profile == "ci":
        return role.build_tiny(device=device, **kwargs)
    if profile in OFFLINE_PROFILES and role.load_offline is not None:
        return role.load_offline(device=device, **kwargs)
    return role.load_pretrained(device=device, **kwargs)

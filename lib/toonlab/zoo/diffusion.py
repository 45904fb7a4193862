"""Stable Diffusion pipelines: hub checkpoints in ``full``, tiny random pipelines of the same classes in ``ci``.

The tiny configs follow the way diffusers tests its own pipelines (two UNet blocks, a two-level VAE,
a two-layer CLIP text encoder); the tokenizer is the real CLIP BPE (:mod:`toonlab.zoo.tokenizer`), so
prompts are tokenized exactly as in ``full``. A tiny pipeline generates 64×64 images in a second on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toonlab.zoo.hub import hf_snapshot
from toonlab.zoo.tokenizer import END, clip_tokenizer

VOCAB_SIZE = 49408
BOS_ID, EOS_ID = 49406, 49407


@dataclass(frozen=True)
class TinySDConfig:
    unet_channels: tuple[int, int] = (32, 64)
    vae_channels: tuple[int, int] = (32, 64)
    text_width: int = 32
    text_layers: int = 2
    latent_channels: int = 4
    sample_size: int = 32  # latent side; the VAE halves, so images are 64×64


def _text_config(width: int, layers: int, **extra):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=VOCAB_SIZE, hidden_size=width, intermediate_size=2 * width,
                          num_attention_heads=4, num_hidden_layers=layers, max_position_embeddings=77,
                          bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=EOS_ID, **extra)


def _tiny_vae(config: TinySDConfig):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=list(config.vae_channels), in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         latent_channels=config.latent_channels, sample_size=2 * config.sample_size)


def _sd_scheduler():
    from diffusers import DDIMScheduler

    # SD 1.x's noise schedule ("scaled_linear" 0.00085 -> 0.012); DDIM so few steps give a defined output.
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def tiny_sd_pipeline(config: TinySDConfig = TinySDConfig(), seed: int = 0, device: str | torch.device = "cpu"):
    """A randomly initialised ``StableDiffusionPipeline`` (UNet, VAE, CLIP text encoder, real tokenizer)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=config.unet_channels, layers_per_block=1, sample_size=config.sample_size,
            in_channels=config.latent_channels, out_channels=config.latent_channels,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=config.text_width, norm_num_groups=8)
        vae = _tiny_vae(config)
        text_encoder = CLIPTextModel(_text_config(config.text_width, config.text_layers))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(END), unet=unet,
                                   scheduler=_sd_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def tiny_sdxl_pipeline(config: TinySDConfig = TinySDConfig(), seed: int = 0, device: str | torch.device = "cpu"):
    """A randomly initialised ``StableDiffusionXLPipeline``: two text encoders, text-time conditioning."""
    pipe = _tiny_sdxl_pipeline(config, seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def tiny_sdxl_controlnet(config: TinySDConfig = TinySDConfig(), seed: int = 0, device: str | torch.device = "cpu"):
    """A ControlNet for :func:`tiny_sdxl_pipeline` (same config), built as ``ControlNetModel.from_unet`` builds
    one from SDXL base: the UNet's encoder copied, zero convolutions, a condition encoder that brings the
    edge image down to latent size (one stride-2 step here, for the two-level VAE; three for SD's VAE).
    Its own seed: a ControlNet trained from the tiny UNet, then perturbed so it is not a no-op copy."""
    return _tiny_sdxl_controlnet(config, seed).to(device)


def _tiny_sdxl_controlnet(config: TinySDConfig, seed: int):
    from diffusers import ControlNetModel

    unet = _tiny_sdxl_pipeline(config, seed).unet
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
        # from_unet zero-initialises the condition encoder's last convolution and the output convolutions (a
        # fresh ControlNet adds nothing); random ones make the tiny model's control image change the output,
        # as a trained ControlNet's does.
        for module in [controlnet.controlnet_cond_embedding.conv_out, *controlnet.controlnet_down_blocks,
                       controlnet.controlnet_mid_block]:
            torch.nn.init.normal_(module.weight, std=0.02)
    return controlnet


def _tiny_sdxl_pipeline(config: TinySDConfig, seed: int):
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    time_embed_dim = 8
    width = config.text_width
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=config.unet_channels, layers_per_block=1, sample_size=config.sample_size,
            in_channels=config.latent_channels, out_channels=config.latent_channels,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=8,
            addition_embed_type="text_time", addition_time_embed_dim=time_embed_dim,
            # six micro-conditioning numbers (sizes, crop) embedded + the pooled text embedding of encoder 2
            projection_class_embeddings_input_dim=6 * time_embed_dim + width,
            cross_attention_dim=2 * width)  # the two encoders' hidden states are concatenated
        vae = _tiny_vae(config)
        text_encoder = CLIPTextModel(_text_config(width, config.text_layers))
        text_encoder_2 = CLIPTextModelWithProjection(_text_config(width, config.text_layers, projection_dim=width))
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=clip_tokenizer(END), tokenizer_2=clip_tokenizer("!"), unet=unet,
                                     scheduler=_sd_scheduler(), force_zeros_for_empty_prompt=True)


# ---------------------------------------------------------------------------------------------------
# SDXL base 1.0 at its real size, random weights: what a step costs does not depend on the weights' values, so
# the cost of the real pipeline can be measured offline (stabilityai/stable-diffusion-xl-base-1.0's
# unet/, vae/, text_encoder/ and text_encoder_2/ config.json, the fields that differ from diffusers' defaults).

SDXL_UNET_CONFIG = dict(
    sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
SDXL_VAE_CONFIG = dict(
    block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=1024, layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.13025)


def sdxl_text_encoders_from_configs():
    """SDXL's two text encoders (CLIP ViT-L/14's and OpenCLIP ViT-bigG/14's text towers), random weights."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    te1 = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                       num_hidden_layers=12, projection_dim=768))
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=1280, intermediate_size=5120,
                                                     num_attention_heads=20, num_hidden_layers=32,
                                                     projection_dim=1280, hidden_act="gelu"))
    return te1, te2


def sdxl_unet_from_configs():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**SDXL_UNET_CONFIG)


def sdxl_vae_from_configs():
    from diffusers import AutoencoderKL

    return AutoencoderKL(**SDXL_VAE_CONFIG)


def sdxl_controlnet_from_configs(unet=None):
    """``diffusers/controlnet-canny-sdxl-1.0``'s architecture: ``ControlNetModel.from_unet`` of SDXL base, random
    weights. Built from the UNet's config alone (``load_weights_from_unet=False``), so the 10 GB fp32 UNet need
    not be resident beside it: the UNet is made on the meta device when none is given."""
    from accelerate import init_empty_weights
    from diffusers import ControlNetModel

    if unet is None:
        with init_empty_weights():
            unet = sdxl_unet_from_configs()
    return ControlNetModel.from_unet(unet, load_weights_from_unet=False)


def sdxl_from_configs(seed: int = 0, device: str | torch.device = "cpu"):
    """A ``StableDiffusionXLPipeline`` of SDXL base's real configs with random weights (about 14 GB in fp32)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        te1, te2 = sdxl_text_encoders_from_configs()
        unet, vae = sdxl_unet_from_configs(), sdxl_vae_from_configs()
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=clip_tokenizer(END),
                                     tokenizer_2=clip_tokenizer("!"), unet=unet,
                                     scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear",
                                                                      beta_start=0.00085, beta_end=0.012))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@dataclass(frozen=True)
class SDXLParts:
    """Builders of an SDXL pipeline's models, one at a time (so a cost measurement can hold one model in memory,
    not all of them): ``real`` = SDXL base's configs, else the book's tiny SDXL. Random weights either way."""

    real: bool = True
    seed: int = 0

    def _seeded(self, build):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build()

    def tokenizers(self):
        return clip_tokenizer(END), clip_tokenizer("!")

    def text_encoders(self):
        if self.real:
            return self._seeded(sdxl_text_encoders_from_configs)
        pipe = _tiny_sdxl_pipeline(TinySDConfig(), self.seed)
        return pipe.text_encoder, pipe.text_encoder_2

    def unet(self):
        return self._seeded(sdxl_unet_from_configs) if self.real else _tiny_sdxl_pipeline(TinySDConfig(), self.seed).unet

    def controlnet(self):
        return self._seeded(sdxl_controlnet_from_configs) if self.real else _tiny_sdxl_controlnet(TinySDConfig(), self.seed)

    def vae(self):
        return self._seeded(sdxl_vae_from_configs) if self.real else _tiny_sdxl_pipeline(TinySDConfig(), self.seed).vae


# Only the diffusers-format components a pipeline loads, in full precision: the hub repositories also hold
# single-file checkpoints, fp16/EMA variants and (SD) a 1.2 GB safety checker, tens of GB in all.
SD_FILES = ["model_index.json", "scheduler/*.json", "tokenizer/*", "feature_extractor/*.json",
            "text_encoder/config.json", "text_encoder/model.safetensors",
            "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json", "vae/diffusion_pytorch_model.safetensors"]
SDXL_FILES = SD_FILES + ["tokenizer_2/*", "text_encoder_2/config.json", "text_encoder_2/model.safetensors"]
VAE_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
CONTROLNET_FILES = VAE_FILES


def pretrained_sd_pipeline(repo_id: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    from diffusers import StableDiffusionPipeline

    path = hf_snapshot(repo_id, allow_patterns=SD_FILES, what=f"Stable Diffusion {repo_id}")
    pipe = StableDiffusionPipeline.from_pretrained(path, torch_dtype=dtype or torch.float32, safety_checker=None,
                                                   requires_safety_checker=False, use_safetensors=True)
    return pipe.to(device)


def pretrained_sdxl_pipeline(repo_id: str, vae_repo_id: str | None, device: str | torch.device = "cpu",
                             dtype: torch.dtype | None = None):
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline

    dtype = dtype or torch.float32
    path = hf_snapshot(repo_id, allow_patterns=SDXL_FILES, what=f"SDXL {repo_id}")
    kwargs = {}
    if vae_repo_id:  # the fp16-fix VAE: SDXL's own VAE overflows (NaN images) in fp16
        vae_path = hf_snapshot(vae_repo_id, allow_patterns=VAE_FILES, what=f"VAE {vae_repo_id}")
        kwargs["vae"] = AutoencoderKL.from_pretrained(vae_path, torch_dtype=dtype)
    pipe = StableDiffusionXLPipeline.from_pretrained(path, torch_dtype=dtype, use_safetensors=True, **kwargs)
    return pipe.to(device)


def pretrained_controlnet(repo_id: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    """A diffusers-format ControlNet from the hub cache (WeightsMissingError with the download command if absent)."""
    from diffusers import ControlNetModel

    path = hf_snapshot(repo_id, allow_patterns=CONTROLNET_FILES, what=f"ControlNet {repo_id}")
    return ControlNetModel.from_pretrained(path, torch_dtype=dtype or torch.float32).to(device)

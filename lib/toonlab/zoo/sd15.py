"""SD 1.x at its real size with random weights (chapter 08's cost table: exact parameter counts and file sizes,
step time and peak memory of DreamBooth / LoRA at SD 1.5's size, with no hub download).

The fields of stable-diffusion-v1-5/stable-diffusion-v1-5's ``unet/``, ``vae/`` and ``text_encoder/``
config.json that differ from diffusers' and transformers' defaults. SD 1.4 has the same architecture (only the
weights differ). A module of its own, beside :mod:`toonlab.zoo.diffusion`, so that the configs only chapter 08
uses do not change the code fingerprint of the chapters that reach that module (04, 07).
"""

from __future__ import annotations

import torch

from toonlab.zoo.tokenizer import END, clip_tokenizer

SD15_UNET_CONFIG = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
SD15_VAE_CONFIG = dict(
    block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=512, layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)


def sd15_text_encoder_from_config():
    """CLIP ViT-L/14's text tower (SD 1.x's text encoder), random weights."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                        num_hidden_layers=12, projection_dim=768, hidden_act="quick_gelu"))


def sd15_from_configs(seed: int = 0, device: str | torch.device = "cpu"):
    """A ``StableDiffusionPipeline`` of SD 1.5's real configs with random weights (about 4.3 GB in fp32)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
        vae = AutoencoderKL(**SD15_VAE_CONFIG)
        text_encoder = sd15_text_encoder_from_config()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(END), unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


__all__ = ["SD15_UNET_CONFIG", "SD15_VAE_CONFIG", "sd15_from_configs", "sd15_text_encoder_from_config"]

"""LoRA on Stable Diffusion (1.x and SDXL) with peft: adding adapters, saving them in diffusers' format,
loading them back (``load_lora_weights``) with a check of the base model, and the kohya/A1111 export.

* **Adding.** :class:`LoRASpec` is the adapter (rank, alpha, targets); :func:`add_lora` puts it on the UNet
  (and optionally the text encoders) through ``add_adapter`` — peft under diffusers' and transformers' own
  integration, exactly what diffusers' ``train_text_to_image_lora(_sdxl).py`` scripts do.
* **Saving.** :func:`save_lora` writes ONE safetensors file in the layout of diffusers'
  ``save_lora_weights`` (``unet.…lora.down.weight`` keys and the peft config as ``lora_adapter_metadata``,
  so an alpha other than the rank survives), written by diffusers itself and then atomically moved into
  place with one more metadata entry, ``toonlab.lora``: the base model it was trained on.
* **Loading.** :func:`load_lora` refuses a LoRA trained on another base (an SD 1.5 LoRA on SDXL, a tiny
  test UNet on the real one) with an error that names both, before diffusers would fail on a shape deep
  inside peft (or, worse, load a few matching keys and ignore the rest).
* **kohya / A1111.** :func:`export_kohya` converts with diffusers' ``convert_state_dict_to_kohya`` (the
  format A1111, ComfyUI and SD.Next read: ``lora_unet_…lora_down.weight`` + ``.alpha``), fixing one thing
  that function gets wrong for us: it writes ``alpha = rank``, so a LoRA trained with another alpha would
  load at the wrong strength. diffusers reads kohya files back itself (``load_lora_weights`` and
  ``lora_state_dict`` convert them), which is the other direction the tests check.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from toonlab import atomic

# diffusers' text-to-image and DreamBooth LoRA scripts: attention projections of the UNet and of CLIP.
UNET_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
METADATA_KEY = "toonlab.lora"
WEIGHT_NAME = "pytorch_lora_weights.safetensors"  # diffusers' default file name


class LoRABaseMismatchError(ValueError):
    """A LoRA file was trained on another base model than the pipeline it is loaded into."""


@dataclass(frozen=True)
class LoRASpec:
    """One LoRA adapter. ``alpha=None`` means alpha = rank (scale 1), the diffusers scripts' choice."""

    rank: int = 4
    alpha: float | None = None
    dropout: float = 0.0
    unet_targets: tuple[str, ...] = UNET_TARGETS
    text_encoders: bool = False  # also train LoRA on the text encoder(s)
    text_targets: tuple[str, ...] = TEXT_TARGETS
    init: str = "gaussian"  # diffusers' scripts: init_lora_weights="gaussian" (B = 0, so training starts at the base)

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"LoRA alpha must be > 0 (or None for alpha = rank), got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "unet_targets", tuple(self.unet_targets))
        object.__setattr__(self, "text_targets", tuple(self.text_targets))

    def peft_config(self, targets: tuple[str, ...]):
        from peft import LoraConfig

        return LoraConfig(r=self.rank, lora_alpha=self.alpha or self.rank, lora_dropout=self.dropout,
                          init_lora_weights=self.init, target_modules=list(targets))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------
# which base model a LoRA belongs to


def is_sdxl(unet: Any) -> bool:
    """SDXL's UNet takes text-time conditioning (pooled text + six size/crop numbers); SD 1.x's does not."""
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


@dataclass(frozen=True)
class BaseSignature:
    """What a LoRA's shapes depend on: the UNet's family, widths and cross-attention size, the text widths."""

    family: str
    block_out_channels: tuple[int, ...]
    cross_attention_dim: int
    text_widths: tuple[int, ...]
    name: str = field(default="", compare=False)  # a label (hub id or "tiny random SDXL"); not compared

    def describe(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return (f"{label}{self.family} UNet (block_out_channels {list(self.block_out_channels)}, cross-attention "
                f"{self.cross_attention_dim}, text widths {list(self.text_widths)})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> BaseSignature:
        return cls(record["family"], tuple(record["block_out_channels"]), int(record["cross_attention_dim"]),
                   tuple(record["text_widths"]), record.get("name", ""))


def base_signature(pipe: Any, name: str = "") -> BaseSignature:
    """The signature of a diffusers SD / SDXL pipeline (or anything with ``unet`` and text encoders)."""
    unet = pipe.unet
    encoders = [e for e in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)) if e is not None]
    cross = unet.config.cross_attention_dim
    return BaseSignature("SDXL" if is_sdxl(unet) else "SD 1.x/2.x", tuple(unet.config.block_out_channels),
                         int(cross if isinstance(cross, int) else cross[0]),
                         tuple(int(e.config.hidden_size) for e in encoders), name)


def frozen_fingerprint(pipe: Any, per_module: int = 2) -> str:
    """sha256 of a few frozen base tensors (the first and last ``per_module // 2`` parameters by name of the UNet,
    the VAE and each text encoder, as fp32): two bases with one signature but other weights (SDXL base vs
    Samaritan-3D-Cartoon) differ here. Take it before any cast or adapter."""
    import hashlib

    digest = hashlib.sha256()
    modules = [("unet", pipe.unet), ("vae", getattr(pipe, "vae", None)),
               *[(name, encoder) for name, encoder in text_encoders(pipe).items()]]
    for module_name, module in modules:
        if module is None:
            continue
        named = sorted((n, p) for n, p in module.named_parameters() if "lora_" not in n)
        half = max(1, per_module // 2)
        for name, tensor in named[:half] + named[-half:]:
            digest.update(f"{module_name}.{name}".encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# adding adapters


def text_encoders(pipe: Any) -> dict[str, Any]:
    """The pipeline's text encoders by the names diffusers' LoRA files use as key prefixes."""
    return {name: getattr(pipe, name) for name in ("text_encoder", "text_encoder_2") if getattr(pipe, name, None) is not None}


def add_lora(pipe: Any, spec: LoRASpec, adapter_name: str = "default") -> list[torch.nn.Parameter]:
    """Freeze the pipeline and add the LoRA adapters; returns the trainable (LoRA) parameters."""
    pipe.unet.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    for encoder in text_encoders(pipe).values():
        encoder.requires_grad_(False)
    pipe.unet.add_adapter(spec.peft_config(spec.unet_targets), adapter_name=adapter_name)
    modules = [pipe.unet]
    if spec.text_encoders:
        for encoder in text_encoders(pipe).values():
            encoder.add_adapter(spec.peft_config(spec.text_targets), adapter_name=adapter_name)
            modules.append(encoder)
    return [p for module in modules for p in module.parameters() if p.requires_grad]


def lora_layers(module: Any, adapter_name: str = "default") -> dict[str, torch.Tensor]:
    """A module's LoRA weights in diffusers' serialisation (``…lora.down.weight`` / ``…lora.up.weight``)."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    return convert_state_dict_to_diffusers(get_peft_model_state_dict(module, adapter_name=adapter_name))


def _has_adapter(module: Any, adapter_name: str) -> bool:
    return adapter_name in (getattr(module, "peft_config", None) or {})


# ---------------------------------------------------------------------------------------------------
# files


def save_lora(path: str | Path, pipe: Any, base: BaseSignature, spec: LoRASpec | None = None,
              adapter_name: str = "default", extra: dict[str, Any] | None = None) -> Path:
    """Write the pipeline's LoRA (UNet, and text encoders that carry one) as one diffusers-format file.

    diffusers' own ``save_lora_weights`` writes it into a temporary folder beside ``path``; the file is then
    rewritten atomically with the ``toonlab.lora`` metadata entry (base model, spec) added.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers: dict[str, Any] = {"unet_lora_layers": lora_layers(pipe.unet, adapter_name),
                              "unet_lora_adapter_metadata": pipe.unet.peft_config[adapter_name].to_dict()}
    for name, encoder in text_encoders(pipe).items():
        if _has_adapter(encoder, adapter_name):
            layers[f"{name}_lora_layers"] = lora_layers(encoder, adapter_name)
            layers[f"{name}_lora_adapter_metadata"] = encoder.peft_config[adapter_name].to_dict()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".lora-") as tmp:
        type(pipe).save_lora_weights(tmp, weight_name=WEIGHT_NAME, **layers)
        with safe_open(str(Path(tmp) / WEIGHT_NAME), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    metadata[METADATA_KEY] = json.dumps({"base": base.to_dict(), "spec": spec.to_dict() if spec else None,
                                         **(extra or {})}, sort_keys=True)
    with atomic.atomic_path(path) as tmp_file:
        save_file(tensors, str(tmp_file), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``toonlab.lora`` record of a file written by :func:`save_lora` (empty for foreign files)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no LoRA file at {path}; train one first (chapter 07) or fix the path")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    return json.loads(metadata[METADATA_KEY]) if METADATA_KEY in metadata else {}


def check_base(path: str | Path, pipe: Any, pipe_name: str = "") -> BaseSignature | None:
    """Raise :class:`LoRABaseMismatchError` when ``path`` was trained on another base than ``pipe``.

    Files written by :func:`save_lora` carry their base; for foreign files (kohya exports, hub LoRAs) the
    shapes are checked against the pipeline instead: every LoRA down/up pair must fit the layer it names.
    """
    here = base_signature(pipe, pipe_name)
    record = read_metadata(path)
    if record.get("base"):
        trained = BaseSignature.from_dict(record["base"])
        if trained != here:
            raise LoRABaseMismatchError(
                f"LoRA {path} was trained on {trained.describe()}, but the pipeline is {here.describe()}; "
                "load it into the base it was trained on, or train a LoRA for this base")
        return trained
    _check_shapes(path, pipe, here)
    return None


def _check_shapes(path: str | Path, pipe: Any, here: BaseSignature) -> None:
    from diffusers.utils import convert_state_dict_to_peft, convert_unet_state_dict_to_peft

    state, _alphas = type(pipe).lora_state_dict(str(path))  # diffusers converts kohya files to its format
    modules = {"unet": pipe.unet, **text_encoders(pipe)}
    found = 0
    for prefix, module in modules.items():
        part = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
        if not part:
            continue
        # diffusers' readers return older key layouts (attention processors, lora.down); peft's names the layer
        part = convert_unet_state_dict_to_peft(part) if prefix == "unet" else convert_state_dict_to_peft(part)
        for key, tensor in part.items():
            if not key.endswith("lora_A.weight"):
                continue
            layer_name = key[: -len(".lora_A.weight")]
            try:
                layer = module.get_submodule(layer_name)
            except AttributeError:
                raise LoRABaseMismatchError(
                    f"LoRA {path} adapts {prefix}.{layer_name}, which {here.describe()} does not have; it was "
                    "trained for another base model") from None
            base_layer = getattr(layer, "base_layer", layer)
            in_features = getattr(base_layer, "in_features", None) or getattr(base_layer, "in_channels", None)
            if in_features is not None and tensor.shape[1] != in_features:
                raise LoRABaseMismatchError(
                    f"LoRA {path} expects {prefix}.{layer_name} with {tensor.shape[1]} inputs, but "
                    f"{here.describe()} has {in_features}; it was trained for another base model")
            found += 1
    if not found:
        raise LoRABaseMismatchError(f"LoRA {path} holds no LoRA weights for any layer of {here.describe()}")


def load_lora(pipe: Any, path: str | Path, adapter_name: str = "default", scale: float = 1.0,
              pipe_name: str = "") -> Any:
    """Check the base, then ``pipe.load_lora_weights`` (diffusers format or kohya) at ``scale``."""
    from diffusers.utils import logging as diffusers_logging

    check_base(path, pipe, pipe_name)
    path = Path(path)
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # "no LoRA keys for the text encoder" is expected for UNet-only files
    try:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=adapter_name)
    finally:
        diffusers_logging.set_verbosity(verbosity)
    pipe.set_adapters([adapter_name], adapter_weights=[scale])
    return pipe


def export_kohya(path: str | Path, target: str | Path) -> Path:
    """A diffusers-format LoRA file -> the kohya format A1111/ComfyUI read, with the true alpha per layer."""
    from diffusers.utils import convert_all_state_dict_to_peft, convert_state_dict_to_kohya
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        state = {key: handle.get_tensor(key) for key in handle.keys()}
    kohya = convert_state_dict_to_kohya(convert_all_state_dict_to_peft(state))
    adapters = json.loads(metadata.get("lora_adapter_metadata", "{}"))
    for key in [k for k in kohya if k.endswith(".alpha")]:
        component = "unet" if key.startswith("lora_unet") else "text_encoder" if key.startswith("lora_te1") \
            else "text_encoder_2"
        alpha = adapters.get(f"{component}.lora_alpha")
        if alpha is not None:  # convert_state_dict_to_kohya writes alpha = rank; the file says otherwise
            kohya[key] = torch.tensor(float(alpha))
    kohya_meta = {"format": "pt", "ss_network_module": "networks.lora"}
    if METADATA_KEY in metadata:
        kohya_meta[METADATA_KEY] = metadata[METADATA_KEY]
    with atomic.atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in kohya.items()}, str(tmp), metadata=kohya_meta)
    return Path(target)


__all__ = ["BaseSignature", "LoRABaseMismatchError", "LoRASpec", "TEXT_TARGETS", "UNET_TARGETS", "add_lora",
           "frozen_fingerprint",
           "base_signature", "check_base", "export_kohya", "is_sdxl", "load_lora", "lora_layers", "read_metadata",
           "save_lora", "text_encoders"]

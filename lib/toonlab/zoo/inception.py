"""pytorch-fid's InceptionV3 (2048-d pool features): the FID weights in ``full``/``gpu``, random in ``ci``.

Both profiles build the network through pytorch-fid's own ``InceptionV3`` constructor, so the architecture
(the FID-patched Mixed blocks, the bilinear resize to 299, the [0,1] -> [-1,1] scaling) is exactly
pytorch-fid's. Only the source of the state dict differs:

- ``full``/``gpu``: the ported TF weights ``pt_inception-2015-12-05-6726825d.pth`` from the torch hub
  checkpoints folder, checked against their sha256 prefix and loaded with ``weights_only=True``
  (pytorch-fid itself would call ``torch.hub.load_state_dict_from_url``, which unpickles arbitrary objects).
- ``ci``: He-initialised random weights from a fixed seed — no download, and the module is tagged so that
  the metrics label its distance "random-feature FD (smoke, not comparable)", never FID.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn

from toonlab.params import PROFILES
from toonlab.zoo.errors import WeightsMissingError

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub's convention: the file name carries its hash prefix
FID_WEIGHTS_ID = "pt_inception-2015-12-05"  # the tag the metrics recognise as "real FID weights"
FEATURE_DIM = 2048

_constructor_lock = threading.Lock()  # we swap a module-level loader in pytorch_fid for one construction


def fid_weights_url() -> str:
    from pytorch_fid.inception import FID_WEIGHTS_URL

    return FID_WEIGHTS_URL


def fid_weights_path() -> Path:
    """Where torch hub (and so pytorch-fid) keeps the FID weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE


def random_weights_id(seed: int) -> str:
    return f"random-init seed={seed}"


def build_inception(profile: str, device: str | torch.device = "cpu", seed: int = 0) -> nn.Module:
    """pytorch-fid's ``InceptionV3([BLOCK_INDEX_BY_DIM[2048]])`` in eval mode on ``device``.

    The returned module carries ``toonlab_weights``: :data:`FID_WEIGHTS_ID` or ``"random-init seed=N"``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    if profile == "ci":
        state, weights_id = random_fid_inception_state(seed), random_weights_id(seed)
    else:
        state, weights_id = load_fid_weights(), FID_WEIGHTS_ID
    model = inception_from_state(state)
    model.toonlab_weights = weights_id
    return model.eval().to(device)


def inception_from_state(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """pytorch-fid's InceptionV3 (pool3 output) with ``state`` as its FID Inception weights (strict load)."""
    from pytorch_fid import inception as pf

    with _serve_state_dict(pf, state):
        return pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])


@contextlib.contextmanager
def _serve_state_dict(module, state: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Let pytorch-fid's ``fid_inception_v3`` receive ``state`` instead of downloading its weights.

    pytorch-fid has no hook for local or random weights: it always calls its module-level
    ``load_state_dict_from_url(FID_WEIGHTS_URL)``. Swapping that one function for the duration of the
    constructor keeps every line of its architecture code in use, and its strict ``load_state_dict`` proves
    that ``state`` has exactly the keys and shapes of the real network.
    """
    expected_url = fid_weights_url()

    def serve(url: str, *args, **kwargs) -> Mapping[str, torch.Tensor]:
        if url != expected_url:
            raise RuntimeError(f"pytorch-fid asked for unexpected weights {url!r}; expected {expected_url!r}")
        return state

    with _constructor_lock:
        original = module.load_state_dict_from_url
        module.load_state_dict_from_url = serve
        try:
            yield
        finally:
            module.load_state_dict_from_url = original


def load_fid_weights(path: Path | None = None,
                     sha256_prefix: str = FID_WEIGHTS_SHA256_PREFIX) -> dict[str, torch.Tensor]:
    """The FID Inception state dict from the torch hub folder; downloads it only where that can work."""
    from toonlab.zoo.hub import url_file

    target = path or fid_weights_path()
    url_file(fid_weights_url(), target, what="FID InceptionV3 (pytorch-fid)")
    digest = _sha256(target)
    if not digest.startswith(sha256_prefix):
        raise WeightsMissingError(
            f"FID Inception weights at {target} are corrupt or not the pytorch-fid file: sha256 {digest[:16]}… "
            f"does not start with {sha256_prefix}. Delete the file and download it again from {fid_weights_url()}"
        )
    return torch.load(target, map_location="cpu", weights_only=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def random_fid_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for the FID Inception architecture, reproducible from ``seed``.

    The network is assembled the way pytorch-fid's ``fid_inception_v3`` does it (torchvision's Inception3
    with 1008 classes and the FID-patched Mixed blocks); :func:`inception_from_state` then loads the result
    strictly into pytorch-fid's own construction, so any drift between the two fails loudly.
    Initialisation is He-normal (fan-in, ReLU gain) so that features keep their scale through ~20 layers
    (PyTorch's default init shrinks them towards zero and would make every distance ~0).
    """
    import torchvision
    from pytorch_fid import inception as pf

    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    fid_blocks = {
        "Mixed_5b": pf.FIDInceptionA(192, pool_features=32),
        "Mixed_5c": pf.FIDInceptionA(256, pool_features=64),
        "Mixed_5d": pf.FIDInceptionA(288, pool_features=64),
        "Mixed_6b": pf.FIDInceptionC(768, channels_7x7=128),
        "Mixed_6c": pf.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6d": pf.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6e": pf.FIDInceptionC(768, channels_7x7=192),
        "Mixed_7b": pf.FIDInceptionE_1(1280),
        "Mixed_7c": pf.FIDInceptionE_2(2048),
    }
    for name, block in fid_blocks.items():
        setattr(net, name, block)

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                module.reset_running_stats()
    return net.state_dict()

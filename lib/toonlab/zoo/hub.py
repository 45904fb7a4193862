"""Finding pretrained weights without ever hanging.

Before any loader touches the network we ask: are the files in the local cache? If not, are we allowed
and able to download (``HF_HUB_OFFLINE`` unset and the hub reachable within a few seconds)? If not,
:class:`WeightsMissingError` says exactly what to fetch and where it goes.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from toonlab.zoo.errors import WeightsMissingError

HUB_HOST = "huggingface.co"
PROBE_TIMEOUT_S = 3.0


def offline_requested() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def reachable(host: str = HUB_HOST, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to ``host`` opens within ``timeout`` seconds (DNS failure counts as no)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hf_snapshot(repo_id: str, allow_patterns: list[str] | None = None, what: str = "") -> Path:
    """The local snapshot folder of a hub repository, downloading it only when that can work.

    Raises :class:`WeightsMissingError` at once when the files are not cached and the hub cannot be
    reached (offline machine, ``HF_HUB_OFFLINE=1``).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=allow_patterns, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if offline_requested() or not reachable():
        reason = "HF_HUB_OFFLINE is set" if offline_requested() else f"{HUB_HOST} is unreachable from this machine"
        include = "".join(f" --include '{pattern}'" for pattern in allow_patterns or [])
        raise WeightsMissingError(
            f"{what or 'model'}: the weights of hub repository '{repo_id}' are not in the local cache "
            f"({hf_cache_dir()}) and cannot be downloaded ({reason}).\n"
            f"Fix: on a machine with internet run\n"
            f"    huggingface-cli download {repo_id}{include}\n"
            f"then copy its cache folder to this machine (or point HF_HOME / HF_HUB_CACHE at it). "
            f"The `ci` profile needs no weights: run with profile='ci' to use tiny random stand-ins."
        )
    return Path(snapshot_download(repo_id, allow_patterns=allow_patterns))


def url_file(url: str, target: Path, what: str = "") -> Path:
    """A file fetched by URL into ``target`` (torch hub style), or WeightsMissingError when that cannot work."""
    if target.is_file():
        return target
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    if offline_requested() or not reachable(host):
        raise WeightsMissingError(
            f"{what or 'model'}: weights file {target.name} is missing at {target} and {host} is unreachable.\n"
            f"Fix: on a machine with internet download\n    {url}\nand place it at\n    {target}\n"
            f"(or set TORCH_HOME so that hub/checkpoints/{target.name} exists). "
            f"The `ci` profile needs no weights."
        )
    from torch.hub import download_url_to_file

    from toonlab.atomic import atomic_path

    with atomic_path(target) as tmp:
        download_url_to_file(url, str(tmp), progress=True)
    return target

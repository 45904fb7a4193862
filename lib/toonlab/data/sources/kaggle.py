"""``kaggle`` sources (ToyHollyWood, funkopop-humans): a Kaggle data set, downloaded once with kagglehub.

Credentials come only from the environment (``KAGGLE_USERNAME``/``KAGGLE_KEY`` or ``KAGGLE_API_TOKEN``,
read by kagglehub itself) and are never written anywhere. Offline, the reachability check fails within
seconds and the error says how to place a manual download instead of hanging on retries.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from toonlab.data.errors import DataSourceError
from toonlab.data.sources.folder import FolderSource, env_var, image_files

KAGGLE_HOST = ("www.kaggle.com", 443)
CONNECT_TIMEOUT_S = 5.0


def kaggle_reachable(host: tuple[str, int] = KAGGLE_HOST, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def _kagglehub_download(handle: str, output_dir: Path) -> str:
    import kagglehub

    return kagglehub.dataset_download(handle, output_dir=str(output_dir))


class KaggleSource(FolderSource):
    # Swappable for tests (fault injection) without touching the network.
    download: Callable[[str, Path], str] = staticmethod(_kagglehub_download)
    reachable: Callable[[], bool] = staticmethod(kaggle_reachable)

    def handle(self) -> str:
        handle = self.spec.options.get("handle")
        if not handle:
            raise DataSourceError(f"data/registry.yaml: source {self.spec.name!r} needs options.handle (owner/dataset)")
        return str(handle)

    def resolve(self) -> Path:
        folder = self.folder()
        if folder.is_dir() and image_files(folder):
            return self.checked(folder)
        handle = self.handle()
        manual = (
            f"Download https://www.kaggle.com/datasets/{handle} by hand and unzip it into {folder} "
            f"(or point {env_var(self.spec.name)} at the unzipped folder)."
        )
        if not self.reachable():
            raise DataSourceError(
                f"data source {self.spec.name!r} is not on this machine and www.kaggle.com cannot be reached "
                f"(offline?). {manual}"
            )
        try:
            downloaded = Path(self.download(handle, folder))
        except Exception as error:  # kagglehub raises many types; the message must still say what to do
            raise DataSourceError(
                f"downloading {handle} with kagglehub failed ({type(error).__name__}: {error}). Put KAGGLE_USERNAME "
                f"and KAGGLE_KEY in the environment (kaggle.com -> Settings -> API), or: {manual}"
            ) from error
        root = downloaded if downloaded.is_dir() else folder
        if not image_files(root):
            raise DataSourceError(f"kagglehub returned {downloaded} but it holds no images. {manual}")
        return self.checked(root)

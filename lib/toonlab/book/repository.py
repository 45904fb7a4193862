"""The repository the book is published from, read from one place: ``repository:`` in ``_config.yml``.

Jupyter Book's own repository button reads that key; the chapters' Colab/Kaggle badges, the notebooks'
bootstrap cell, the README and the GitHub Pages address are all derived from it here, so a fork edits one
line (and runs ``python -m toonlab.book sync`` to rewrite the generated notebook cells).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from toonlab.paths import repo_root

GITHUB = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)$")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
KAGGLE_BADGE = "https://kaggle.com/static/images/open-in-kaggle.svg"


@dataclass(frozen=True)
class Repository:
    url: str  # https://github.com/<owner>/<name>, no trailing slash
    branch: str

    def __post_init__(self):
        if not GITHUB.match(self.url):
            raise ValueError(
                f"repository.url {self.url!r} in _config.yml must look like https://github.com/<owner>/<name> "
                f"(no trailing slash, no .git): the Colab/Kaggle badges and GitHub Pages need a GitHub repository"
            )
        if not self.branch or any(c.isspace() for c in self.branch):
            raise ValueError(f"repository.branch {self.branch!r} in _config.yml must be a branch name, e.g. main")

    @property
    def owner(self) -> str:
        return GITHUB.match(self.url)["owner"]

    @property
    def name(self) -> str:
        return GITHUB.match(self.url)["name"]

    def notebook_blob(self, stem: str) -> str:
        """``owner/name/blob/branch/notebooks/<stem>.ipynb``: what Colab and Kaggle open."""
        return f"{self.owner}/{self.name}/blob/{self.branch}/notebooks/{stem}.ipynb"

    def colab_url(self, stem: str) -> str:
        return f"https://colab.research.google.com/github/{self.notebook_blob(stem)}"

    def kaggle_url(self, stem: str) -> str:
        return f"https://kaggle.com/kernels/welcome?src=https://github.com/{self.notebook_blob(stem)}"

    @property
    def pages_url(self) -> str:
        """Where GitHub Pages publishes the book (a project site, or the owner's user site)."""
        owner = self.owner.lower()
        if self.name.lower() == f"{owner}.github.io":
            return f"https://{owner}.github.io/"
        return f"https://{owner}.github.io/{self.name}/"


def repository(root: Path | None = None) -> Repository:
    """The ``repository:`` section of ``_config.yml`` (url, branch)."""
    config_path = (root or repo_root()) / "_config.yml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: the repository URL is read from the book's _config.yml")
    section = (yaml.safe_load(config_path.read_text()) or {}).get("repository") or {}
    if "url" not in section:
        raise ValueError(f"{config_path} has no repository.url; add `repository: {{url: https://github.com/<owner>/<name>}}`")
    return Repository(str(section["url"]), str(section.get("branch", "main")))

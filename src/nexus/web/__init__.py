"""The web dashboard's static assets (HTML, JS modules, CSS), served by the API at ``/``.

No build step: the browser loads the ES modules under ``js/`` as they are.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["asset_root"]


def asset_root() -> Path:
    """The directory holding ``index.html``, ``js/`` and ``css/``."""
    return Path(str(resources.files(__name__)))

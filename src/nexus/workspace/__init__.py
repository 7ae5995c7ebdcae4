"""Run workspaces: a git repository per run (E7) and path confinement for file tools."""

from nexus.workspace.git import DEFAULT_GIT_TIMEOUT, GitResult, GitWorkspace
from nexus.workspace.paths import relative_to_root, resolve_inside

__all__ = [
    "DEFAULT_GIT_TIMEOUT",
    "GitResult",
    "GitWorkspace",
    "relative_to_root",
    "resolve_inside",
]

"""An earlier commit of this repository, checked out beside the current code
for a benchmark to run it in the same run (a git worktree, removed after)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feedbot.settings import PROJECT_ROOT


@contextmanager
def checkout(commit: str, path: Path) -> Iterator[Path]:
    """``commit`` checked out (detached) at ``path`` while the block runs."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-f", str(path), commit],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=PROJECT_ROOT,
            check=False,
            capture_output=True,
        )

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system import System, running_system


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Rasa, the action server and the app, started once for the session."""
    with running_system(tmp_path_factory.mktemp("system")) as running:
        yield running

"""Rasa's own environment (.venv-rasa, Python 3.10) and the trained model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from feedbot.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"
MODEL_NAME = "feedbot"


class RasaNotInstalled(RuntimeError):
    pass


def rasa_executable() -> Path:
    path = Path(os.environ.get("RASA_BIN") or PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")
    if not path.exists():
        raise RasaNotInstalled(
            f"Rasa is not installed at {path}. Run `make install` (it creates .venv-rasa "
            "with Python 3.10), or set RASA_BIN to a Rasa 3.6 executable."
        )
    return path


def rasa_environment(action_server_url: str, tracker_db: Path) -> dict[str, str]:
    """Variables endpoints.yml reads, plus quiet, offline defaults."""
    env = dict(os.environ)
    env.update(
        ACTION_ENDPOINT_URL=f"{action_server_url}/webhook",
        RASA_TRACKER_DB=str(tracker_db),
        RASA_TELEMETRY_ENABLED="false",
        PYTHONWARNINGS="ignore",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def action_server_command(port: int) -> list[str]:
    """The Rasa action server on this port, serving the `actions` package
    (it listens on the host in the environment's SANIC_HOST)."""
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]


# What the model is trained from; a change to any of these means retraining.
TRAINING_INPUTS = ("config.yml", "domain.yml", "data")


def training_fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def model_is_current(fingerprint: str | None = None) -> bool:
    stamp = MODELS_DIR / f"{MODEL_NAME}.fingerprint"
    return (
        model_path().exists()
        and stamp.exists()
        and stamp.read_text().strip() == (fingerprint or training_fingerprint())
    )


def train(env: dict[str, str], force: bool = False) -> bool:
    """Train the model unless it is current. Returns whether it trained."""
    fingerprint = training_fingerprint()
    if not force and model_is_current(fingerprint):
        return False
    subprocess.run(
        [
            str(rasa_executable()),
            "train",
            "--fixed-model-name",
            MODEL_NAME,
            "--out",
            str(MODELS_DIR),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
    )
    (MODELS_DIR / f"{MODEL_NAME}.fingerprint").write_text(fingerprint + "\n")
    return True


def model_path() -> Path:
    return MODELS_DIR / f"{MODEL_NAME}.tar.gz"

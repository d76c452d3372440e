"""Rasa's own environment (.venv-rasa, Python 3.10) and the trained model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from feedbot.settings import PROJECT_ROOT, Settings

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


# A Rasa instance that dies holding a conversation's lock in Redis blocks that
# conversation until the lock expires (Rasa's default: 60 s). Turns take well
# under a second, so the others take over after this many seconds instead.
LOCK_LIFETIME_SECONDS = 10


def lock_key_prefix(deployment_key: str) -> str:
    """Rasa's lock store key prefix for one deployment (alphanumeric, as Rasa requires)."""
    return f"feedbot{deployment_key}"


def lock_key(deployment_key: str, conversation_id: str) -> str:
    """A conversation's lock key, as Rasa 3.6's RedisLockStore names it."""
    return f"{lock_key_prefix(deployment_key)}:lock:{conversation_id}"


def rasa_environment() -> dict[str, str]:
    """Rasa's environment: quiet, offline defaults."""
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        PYTHONWARNINGS="ignore",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TICKET_LOCK_LIFETIME=str(LOCK_LIFETIME_SECONDS),
    )
    return env


def endpoints(
    action_server_url: str, tracker_url: str, redis_url: str | None, lock_prefix: str
) -> dict[str, Any]:
    """Rasa's endpoints.yml for one instance: its action server, the SQL
    tracker store at ``tracker_url`` (SQLite or PostgreSQL), and with Redis,
    the Redis lock store that Rasa needs for several instances or workers.
    ``lock_prefix`` must be alphanumeric: Rasa drops any other with only a
    warning (then two deployments on one Redis would share locks)."""
    if not lock_prefix.isalnum():
        raise ValueError(f"Rasa's lock key prefix must be alphanumeric, not {lock_prefix!r}")
    config: dict[str, Any] = {
        "action_endpoint": {"url": f"{action_server_url}/webhook"},
        "tracker_store": _sql_tracker_store(tracker_url),
    }
    if redis_url:
        url = make_url(redis_url.replace("rediss://", "redis://", 1))
        config["lock_store"] = {
            "type": "redis",
            "url": url.host or "127.0.0.1",
            "port": url.port or 6379,
            "db": int(url.database or 0),
            "password": url.password,
            "use_ssl": redis_url.startswith("rediss://"),
            "key_prefix": lock_prefix,
        }
    return config


# Rasa's SQL tracker store, reusing the trackers it saved when the database
# still holds exactly them (feedbot_rasa/tracker_store.py): same tables, same rows.
TRACKER_STORE_TYPE = "feedbot_rasa.tracker_store.FeedbotTrackerStore"


def _sql_tracker_store(database_url: str) -> dict[str, Any]:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"type": TRACKER_STORE_TYPE, "dialect": "sqlite", "db": url.database}
    if backend != "postgresql":
        raise ValueError(f"Rasa's tracker store needs SQLite or PostgreSQL, not {backend}")
    store: dict[str, Any] = {
        "type": TRACKER_STORE_TYPE,
        "dialect": "postgresql",  # Rasa's own psycopg2
        "url": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "db": url.database,
        "username": url.username,
        "password": url.password,
    }
    if url.query:
        store["query"] = dict(url.query)
    return store


def write_endpoints(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by feedbot at each start (feedbot/rasa_env.py); edits are lost.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    path.chmod(0o600)  # it may hold database and Redis passwords
    return path


def rasa_command(model: Path, port: int, endpoints_file: Path, host: str) -> list[str]:
    """One Rasa server, started through feedbot_rasa (its patches, checked
    against the installed Rasa) from Rasa's own environment."""
    python = rasa_executable().parent / "python"
    return [
        str(python),
        "-m",
        "feedbot_rasa",
        "run",
        "--model",
        str(model),
        "--interface",
        host,
        "--port",
        str(port),
        "--endpoints",
        str(endpoints_file),
        "--credentials",
        str(PROJECT_ROOT / "credentials.yml"),
    ]


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


def tracker_url(settings: Settings, var_dir: Path) -> str:
    """Rasa's tracker store: its own setting, else SQLite beside Feedbot's
    SQLite store, else the same PostgreSQL database (Rasa's tables are its own)."""
    if settings.rasa_tracker_url:
        return settings.rasa_tracker_url
    if settings.on_sqlite:
        return f"sqlite:///{var_dir / 'rasa-tracker.db'}"
    return settings.database_url

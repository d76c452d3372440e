"""Rasa's own environment (.venv-rasa, Python 3.10) and the trained model."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from feedbot.locales import DEFAULT, LANGUAGES
from feedbot.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

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


# One model per language the bot speaks (Rasa 3.6 has one `language` per
# config). English, the default, is trained from the top-level files as
# always; another language from the same rules and stories with its own
# NLU data and responses under locales/<language>/ (domain.yml holds only
# `responses:`), and config.yml with its `language` set.
LOCALES_DIR = "locales"
SHARED_DATA = ("data/rules.yml", "data/stories.yml")


@dataclass(frozen=True)
class BotLanguage:
    code: str
    root: Path = PROJECT_ROOT

    @property
    def default(self) -> bool:
        return self.code == DEFAULT

    @property
    def model_name(self) -> str:
        return MODEL_NAME if self.default else f"{MODEL_NAME}-{self.code}"

    @property
    def own_dir(self) -> Path:
        return self.root / LOCALES_DIR / self.code

    def inputs(self) -> list[Path]:
        """What the model is trained from; a change to any of these means retraining."""
        if self.default:
            return [self.root / n for n in ("config.yml", "domain.yml", "data")]
        return [
            self.root / "config.yml",
            self.root / "domain.yml",
            *(self.root / n for n in SHARED_DATA),
            self.own_dir,
        ]

    def data(self) -> list[Path]:
        if self.default:
            return [self.root / "data"]
        return [*(self.root / n for n in SHARED_DATA), self.own_dir / "nlu"]

    def domain_file(self, models: Path) -> Path:
        return self.root / "domain.yml" if self.default else models / f"domain-{self.code}.yml"

    def config_file(self, models: Path) -> Path:
        return self.root / "config.yml" if self.default else models / f"config-{self.code}.yml"

    def untranslated_responses(self) -> list[str]:
        """The responses in domain.yml this language's domain lacks (said in English)."""
        if self.default:
            return []
        english = _responses(self.root / "domain.yml")
        own = _responses(self.own_dir / "domain.yml")
        return [name for name in english if name not in own]

    def write_training_files(self, models: Path) -> None:
        """This language's domain (domain.yml with its own responses; English
        for any it lacks) and config (config.yml in its language)."""
        if self.default:
            return
        models.mkdir(parents=True, exist_ok=True)
        domain = yaml.safe_load((self.root / "domain.yml").read_text(encoding="utf-8"))
        domain["responses"] = {
            **domain["responses"],
            **_responses(self.own_dir / "domain.yml"),
        }
        header = f"# Written by feedbot train from domain.yml and {LOCALES_DIR}/{self.code}/.\n"
        self.domain_file(models).write_text(
            header + yaml.safe_dump(domain, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        config = yaml.safe_load((self.root / "config.yml").read_text(encoding="utf-8"))
        config["language"] = self.code
        self.config_file(models).write_text(
            header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
        )


def _responses(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    found = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(found.get("responses") or {})


def bot_languages(root: Path = PROJECT_ROOT) -> list[BotLanguage]:
    return [BotLanguage(code, root) for code in LANGUAGES]


def bot_language(code: str) -> BotLanguage:
    if code not in LANGUAGES:
        raise ValueError(f"Feedbot speaks {', '.join(LANGUAGES)}, not {code!r}")
    return BotLanguage(code)


def training_fingerprint(root: Path = PROJECT_ROOT, language: str = DEFAULT) -> str:
    digest = hashlib.sha256()
    for path in BotLanguage(language, root).inputs():
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _stamp(language: BotLanguage) -> Path:
    return MODELS_DIR / f"{language.model_name}.fingerprint"


def model_is_current(language: str = DEFAULT, fingerprint: str | None = None) -> bool:
    stamp = _stamp(BotLanguage(language))
    return (
        model_path(language).exists()
        and stamp.exists()
        and stamp.read_text().strip() == (fingerprint or training_fingerprint(language=language))
    )


def models_are_current() -> bool:
    return all(model_is_current(language.code) for language in bot_languages())


def train(env: dict[str, str], force: bool = False) -> list[str]:
    """Train each language's model unless it is current. Returns the
    languages it trained."""
    trained = []
    for language in bot_languages():
        fingerprint = training_fingerprint(language=language.code)
        if not force and model_is_current(language.code, fingerprint):
            continue
        missing = language.untranslated_responses()
        if missing:
            log.warning(
                "%s: %s not in %s/%s/domain.yml; said in English",
                language.code,
                ", ".join(missing),
                LOCALES_DIR,
                language.code,
            )
        language.write_training_files(MODELS_DIR)
        command = [
            str(rasa_executable()),
            "train",
            "--fixed-model-name",
            language.model_name,
            "--out",
            str(MODELS_DIR),
        ]
        if not language.default:
            command += [
                "--domain",
                str(language.domain_file(MODELS_DIR)),
                "--config",
                str(language.config_file(MODELS_DIR)),
                "--data",
                *(str(path) for path in language.data()),
            ]
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True)
        _stamp(language).write_text(fingerprint + "\n")
        trained.append(language.code)
    return trained


def model_path(language: str = DEFAULT) -> Path:
    return MODELS_DIR / f"{BotLanguage(language).model_name}.tar.gz"


def tracker_url(settings: Settings, var_dir: Path) -> str:
    """Rasa's tracker store: its own setting, else SQLite beside Feedbot's
    SQLite store, else the same PostgreSQL database (Rasa's tables are its own)."""
    if settings.rasa_tracker_url:
        return settings.rasa_tracker_url
    if settings.on_sqlite:
        return f"sqlite:///{var_dir / 'rasa-tracker.db'}"
    return settings.database_url

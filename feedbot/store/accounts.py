"""People's accounts and login sessions.

Passwords are hashed with Argon2id (argon2-cffi's defaults: memory-hard, so
a stolen table is slow to guess from). A session is a random token in the
browser's cookie and its SHA-256 here: logging out, disabling the user or
resetting their password ends it at once, and a session made with a role
token ends when that token changes.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from feedbot.store.models import LoginSession, User

PEOPLES_ROLES = ("analyst", "agent", "admin")
MIN_PASSWORD_CHARS = 12
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email takes as long
# as a wrong password (no telling which accounts exist by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """The account cannot be made or changed; the message says why."""


@dataclass(frozen=True)
class Person:
    """Who a session belongs to, and what they may see."""

    role: str
    name: str
    user_id: str | None = None
    touchpoints: tuple[str, ...] | None = None
    locations: tuple[str, ...] | None = None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_fingerprint(role_token: str) -> str:
    return _digest(f"role-token:{role_token}")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")


# --- accounts (the command line: a sync engine) ---


def add_user(
    engine: Engine,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    at: datetime,
    touchpoints: list[str] | None = None,
    locations: list[str] | None = None,
) -> User:
    if role not in PEOPLES_ROLES:
        raise AccountError(f"The role is one of {', '.join(PEOPLES_ROLES)}, not {role!r}.")
    if "@" not in email:
        raise AccountError(f"{email!r} is not an e-mail address.")
    check_password(password)
    user = User(
        id=str(uuid.uuid4()),
        email=email.strip().lower(),
        name=name.strip() or email,
        role=role,
        touchpoints=touchpoints or None,
        locations=locations or None,
        password_hash=_hasher.hash(password),
        created_at=at,
    )
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.add(user)
    except IntegrityError:
        raise AccountError(f"There is already an account for {user.email}.") from None
    return user


def list_users(engine: Engine) -> list[User]:
    with Session(engine) as session:
        return list(session.scalars(select(User).order_by(User.email)))


def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise AccountError(f"No account for {email}.")
    return user


def disable_user(engine: Engine, email: str, at: datetime) -> None:
    """The person can no longer log in, and their sessions end now."""
    with Session(engine) as session, session.begin():
        user = _user_by_email(session, email)
        user.disabled_at = at
        _end_sessions(session, user.id, at)


def reset_password(engine: Engine, email: str, password: str, at: datetime) -> None:
    """A new password (and the account enabled again); their sessions end."""
    check_password(password)
    with Session(engine) as session, session.begin():
        user = _user_by_email(session, email)
        user.password_hash = _hasher.hash(password)
        user.disabled_at = None
        _end_sessions(session, user.id, at)


def _end_sessions(session: Session, user_id: str, at: datetime) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# --- logging in and sessions (the app: an async engine) ---


class Sessions:
    def __init__(self, engine: AsyncEngine, lifetime: timedelta) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._lifetime = lifetime

    async def check_password(self, email: str, password: str) -> User | None:
        """The enabled account with this e-mail and password, else None."""
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled_at is not None:
            return None
        return user

    async def start(
        self,
        role: str,
        at: datetime,
        user_id: str | None = None,
        role_token: str | None = None,
    ) -> str:
        """A new session; returns the token for the cookie (kept here only hashed)."""
        token = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            session.add(
                LoginSession(
                    token_hash=_digest(token),
                    role=role,
                    user_id=user_id,
                    token_fingerprint=token_fingerprint(role_token) if role_token else None,
                    created_at=at,
                    expires_at=at + self._lifetime,
                )
            )
        return token

    async def person(
        self, token: str, at: datetime, role_tokens: dict[str, str | None]
    ) -> Person | None:
        """Who holds this session token now, or None when it has ended."""
        async with self._sessions() as session:
            found = await session.get(LoginSession, _digest(token))
            if found is None or found.revoked_at is not None or found.expires_at <= at:
                return None
            if found.user_id is None:  # a login with a role token
                current = role_tokens.get(found.role)
                if not current or found.token_fingerprint != token_fingerprint(current):
                    return None
                return Person(role=found.role, name=found.role)
            user = await session.get(User, found.user_id)
        if user is None or user.disabled_at is not None:
            return None
        return Person(
            role=user.role,
            name=user.name,
            user_id=user.id,
            touchpoints=tuple(user.touchpoints) if user.touchpoints else None,
            locations=tuple(user.locations) if user.locations else None,
        )

    async def end(self, token: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(LoginSession)
                .where(LoginSession.token_hash == _digest(token), LoginSession.revoked_at.is_(None))
                .values(revoked_at=at)
            )

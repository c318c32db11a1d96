"""The user mails: password reset, email verification, forgotten username.

Mail goes out through the SMTP server of the settings (``smtp_*``, ``mail_from``) with aiosmtplib.
A reset or verification mail carries a link to a page kinbase serves (the front-end renders it);
the link holds a one-time token of 32 random bytes whose SHA-256 is stored in the private parent
``kinvey.mail_tokens`` with its purpose, user and expiry (24 hours). The initiating calls answer
the same whether or not the user exists, so they reveal nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import orjson

from kinbase.core.kinvey.users import UserService
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend
from kinbase.storage.stamps import now_ms

__all__ = ["MAIL_TOKENS", "MailService"]

logger = logging.getLogger("kinbase.kinvey.mail")

MAIL_TOKENS = "kinvey.mail_tokens"
TOKEN_TTL_MS = 24 * 3600 * 1000


class MailService:
    def __init__(self, settings: Settings, storage: StorageBackend, users: UserService) -> None:
        self._settings = settings
        self._storage = storage
        self._users = users

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send one plain-text mail; False (logged) when no SMTP server is configured or it fails."""
        s = self._settings
        if not s.smtp_host:
            logger.warning("no smtp_host configured: the mail %r to %s was not sent", subject, to)
            return False
        message = EmailMessage()
        message["From"] = s.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                timeout=30,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            logger.error("sending the mail %r to %s failed: %s", subject, to, exc)
            return False
        return True

    async def _token(self, app: AppRecord, purpose: str, user_id: str, email: str) -> str:
        token = secrets.token_urlsafe(32)
        data: dict[str, Any] = {
            "purpose": purpose,
            "user": user_id,
            "email": email,
            "expires": now_ms() + TOKEN_TTL_MS,
        }
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, MAIL_TOKENS, "")
            key = hashlib.sha256(token.encode()).hexdigest()
            await writer.put(parent, key, lambda ctx: NewVersion(data, creator=user_id))
        return token

    async def redeem(
        self, app: AppRecord, token: str, purpose: str, *, consume: bool
    ) -> dict[str, Any] | None:
        """The record of a valid token for ``purpose`` (deleted when ``consume``), or None."""
        key = hashlib.sha256(token.encode()).hexdigest()
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, MAIL_TOKENS, "")
            found = await writer.get_object(parent, key) if parent is not None and token else None
            if parent is None or found is None:
                return None
            record: dict[str, Any] = orjson.loads(found.data)
            if record.get("purpose") != purpose or int(record.get("expires", 0)) <= now_ms():
                return None
            if consume:
                await writer.delete(parent, key)
        return record

    async def start_reset(self, app: AppRecord, login: str, base_url: str) -> None:
        for user in await self._users.find_by_login(app, login):
            email = user.get("email")
            if not isinstance(email, str) or "@" not in email or "status" in (user.get("_kmd") or {}):
                continue
            token = await self._token(app, "reset", str(user["_id"]), email)
            link = f"{base_url}/rpc/{app.key}/reset-password?token={token}"
            await self.send(
                email,
                f"Reset your {app.name} password",
                f"Hello {user.get('username')},\n\nSomeone asked to reset the password of your {app.name} "
                f"account. To choose a new password, open this link within 24 hours:\n\n{link}\n\n"
                "If it was not you, ignore this mail.\n",
            )

    async def finish_reset(self, app: AppRecord, token: str, password: str) -> bool:
        record = await self.redeem(app, token, "reset", consume=False)
        if record is None:
            return False
        async with self._storage.writer() as writer:
            await self._users.set_password(writer, app, str(record["user"]), password)
        await self.redeem(app, token, "reset", consume=True)
        return True

    async def start_verification(self, app: AppRecord, login: str, base_url: str) -> None:
        for user in await self._users.find_by_login(app, login):
            email = user.get("email")
            if not isinstance(email, str) or "@" not in email:
                continue
            token = await self._token(app, "verify", str(user["_id"]), email)
            link = f"{base_url}/rpc/{app.key}/verify-email?token={token}"
            await self.send(
                email,
                f"Confirm your email address for {app.name}",
                f"Hello {user.get('username')},\n\nPlease confirm that {email} is your address by "
                f"opening this link within 24 hours:\n\n{link}\n",
            )

    async def finish_verification(self, app: AppRecord, token: str) -> bool:
        record = await self.redeem(app, token, "verify", consume=True)
        if record is None:
            return False
        async with self._storage.writer() as writer:
            return await self._users.verify_email(writer, app, str(record["user"]), str(record["email"]))

    async def forgot_username(self, app: AppRecord, email: str) -> None:
        matches = [u for u in await self._users.find_by_login(app, email) if u.get("email") == email]
        if not matches:
            return
        names = "\n".join(f"  {u.get('username')}" for u in matches)
        await self.send(
            email,
            f"Your {app.name} username",
            f"Hello,\n\nThe {app.name} accounts registered with {email} have these usernames:\n\n{names}\n",
        )

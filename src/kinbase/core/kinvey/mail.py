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

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.users import UserService
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, Writer
from kinbase.storage.stamps import now_ms

__all__ = ["MAIL_TOKENS", "MailService", "flex_email"]

logger = logging.getLogger("kinbase.kinvey.mail")

MAIL_TOKENS = "kinvey.mail_tokens"
TOKEN_TTL_MS = 24 * 3600 * 1000


def _addresses(value: Any, key: str, *, required: bool) -> list[str]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    if required and not items:
        raise KinveyError("IncompleteRequestBody", f"The mail needs {key!r}.")
    for item in items:
        if not isinstance(item, str) or "@" not in item or any(c in item for c in "\r\n") or len(item) > 320:
            raise KinveyError("BadRequest", f"{key!r} must be email addresses.")
    return items


def flex_email(body: Any) -> EmailMessage:
    """The mail of a Flex ``email.send`` request body.

    Raises:
        KinveyError: IncompleteRequestBody (a missing from, to, subject or body) or BadRequest.
    """
    if not isinstance(body, dict):
        raise KinveyError("IncompleteRequestBody", 'Send {"from", "to", "subject", "body"}.')
    sender = _addresses(body.get("from"), "from", required=True)
    to = _addresses(body.get("to"), "to", required=True)
    cc = _addresses(body.get("cc"), "cc", required=False)
    bcc = _addresses(body.get("bcc"), "bcc", required=False)
    reply_to = _addresses(body.get("replyTo"), "replyTo", required=False)
    subject, text, html = body.get("subject"), body.get("body"), body.get("html")
    if not isinstance(subject, str) or not subject or not isinstance(text, str) or not text:
        raise KinveyError("IncompleteRequestBody", "The mail needs a subject and a text body.")
    if any(c in subject for c in "\r\n") or (html is not None and not isinstance(html, str)):
        raise KinveyError("BadRequest", "subject must be one line; html a string.")
    message = EmailMessage()
    message["From"] = sender[0]
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if bcc:
        message["Bcc"] = ", ".join(bcc)  # aiosmtplib sends to Bcc and removes the header
    message["Reply-To"] = reply_to[0] if reply_to else sender[0]
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


class MailService:
    def __init__(self, settings: Settings, storage: StorageBackend, users: UserService) -> None:
        self._settings = settings
        self._storage = storage
        self._users = users

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send one plain-text mail; False (logged) when no SMTP server is configured or it fails."""
        if not self._settings.smtp_host:
            logger.warning("no smtp_host configured: the mail %r to %s was not sent", subject, to)
            return False
        message = EmailMessage()
        message["From"] = self._settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        try:
            await self.deliver(message)
        except KinveyError as exc:
            logger.error("sending the mail %r to %s failed: %s", subject, to, exc.debug)
            return False
        return True

    async def deliver(self, message: EmailMessage) -> str:
        """Hand ``message`` to the SMTP server; returns the server's answer to the data.

        Raises:
            KinveyError: MissingConfiguration without ``smtp_host``; ServiceUnavailable when the
                server cannot be reached or refuses the message.
        """
        s = self._settings
        if not s.smtp_host:
            raise KinveyError("MissingConfiguration", "No SMTP server is configured (smtp_host).")
        try:
            _refused, answer = await aiosmtplib.send(
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
            raise KinveyError("ServiceUnavailable", f"The SMTP server did not take the mail: {exc}") from None
        return str(answer)

    async def send_flex_email(self, body: Any) -> dict[str, Any]:
        """Send the message of the Flex ``email`` module (``POST /rpc/:appKey/send-email`` with
        ``{"from", "to", "subject", "body", "replyTo"?, "html"?, "cc"?, "bcc"?}``); returns
        ``{"mailServerResponse": ...}``.

        Raises:
            KinveyError: IncompleteRequestBody or BadRequest for a bad message; see :meth:`deliver`.
        """
        message = flex_email(body)
        return {"mailServerResponse": await self.deliver(message)}

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
        async with self._storage.writer() as writer:
            return await self._redeem(writer, app, token, purpose, consume=consume)

    @staticmethod
    async def _redeem(
        writer: Writer, app: AppRecord, token: str, purpose: str, *, consume: bool
    ) -> dict[str, Any] | None:
        """:meth:`redeem` in ``writer``'s transaction: the token's parent stays locked until the
        commit, so two requests cannot both spend it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        parent = await writer.get_parent(app.id, MAIL_TOKENS, "")
        found = await writer.get_object_for_update(parent, key) if parent is not None and token else None
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
        # spent in the transaction that sets the password: a second request with the same token
        # waits for it, then finds the token gone (a failure leaves it unspent)
        async with self._storage.writer() as writer:
            record = await self._redeem(writer, app, token, "reset", consume=True)
            if record is None:
                return False
            await self._users.set_password(writer, app, str(record["user"]), password)
        await self._users.sessions.changed(app)
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

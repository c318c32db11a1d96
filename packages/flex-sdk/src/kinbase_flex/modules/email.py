"""``modules.email``: send an email through the backend (``POST /rpc/<appKey>/send-email``)."""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.modules._store import BackendEnv, basic

__all__ = ["Email"]


class Email:
    """``send(from, to, subject, text_body, reply_to=None, html_body=None, cc=None, bcc=None, callback)``."""

    def __init__(self, env: BackendEnv) -> None:
        self._env = env

    def send(
        self,
        from_: Any,
        to: Any,
        subject: Any,
        text_body: Any,
        reply_to: Any = None,
        html_body: Any = None,
        cc: Any = None,
        bcc: Any = None,
        callback: Any = None,
    ) -> Pending[Any]:
        """Send the message; the result is the mail server's response, or ``{"success": true}``.

        As in the Node SDK the callback may come right after the last argument given, e.g.
        ``send(frm, to, subject, text, callback)``.
        """
        optional = [reply_to, html_body, cc, bcc]
        if callback is None:
            for index, value in enumerate(optional):
                if callable(value):
                    callback = value
                    optional[index:] = [None] * (len(optional) - index)
                    break
        if callback is None and callable(text_body):
            callback, text_body = text_body, None
        reply_to, html_body, cc, bcc = optional
        env = self._env
        runtime = env.runtime
        if not to or not from_ or not subject or not text_body:
            return self._fail(
                "Invalid Arguments",
                "To send an email, you must specify the 'to', 'from', 'subject' and 'body' parameters",
                callback,
            )
        if not env.baas_url:
            return self._fail(
                "Bad Request", "No baasUrl: X-Kinvey-App-Metadata must carry the backend's baasUrl", callback
            )
        url = f"{env.baas_url}/rpc/{env.app_key}/send-email"
        headers = {
            "Content-Type": "application/json",
            "Authorization": basic(env.app_metadata.get("_id"), env.app_metadata.get("mastersecret")),
            "x-kinvey-api-version": "3",
        }
        body = {
            "from": from_,
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "subject": subject,
            "replyTo": reply_to,
            "body": text_body,
            "html": html_body,
        }

        async def call() -> Any:
            result = await runtime.request("POST", url, headers=headers, body=body, error_status=400)
            if isinstance(result, dict) and "mailServerResponse" in result:
                return result["mailServerResponse"]
            return {"success": True}

        return runtime.submit(call, callback)

    def _fail(self, description: str, debug: str, callback: Any) -> Pending[Any]:
        from kinbase_flex.errors import ModuleError

        error = ModuleError("EmailError", description, debug)

        async def raise_error() -> Any:
            raise error

        return self._env.runtime.submit(raise_error, callback)

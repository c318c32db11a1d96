"""``/rpc/:appKey/...``: user helpers, collection removal, and the pages the mail links open."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from kinbase.core.kinvey.entities import check_collection_name
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, html_response

__all__ = [
    "check_username",
    "email_verification_initiate",
    "forgot_username",
    "password_reset_initiate",
    "remove_collection",
    "reset_page",
    "reset_submit",
    "send_email",
    "verify_page",
]


async def check_username(call: KinveyCall) -> HttpResponse:
    body = await call.json_body()
    if not isinstance(body, dict) or "username" not in body:
        raise KinveyError("IncompleteRequestBody", 'Send {"username": ...}.')
    return render.value(
        {"usernameExists": await call.kinvey.users.username_exists(call.app, body["username"])}
    )


async def password_reset_initiate(call: KinveyCall) -> HttpResponse:
    """Mail a reset link to the user (by username or email); always 204."""
    await call.kinvey.mail.start_reset(call.app, call.params["login"], call.base_url())
    return render.no_content()


async def email_verification_initiate(call: KinveyCall) -> HttpResponse:
    """Mail a verification link to the user (by username or ``_id``); always 204."""
    await call.kinvey.mail.start_verification(call.app, call.params["login"], call.base_url())
    return render.no_content()


async def forgot_username(call: KinveyCall) -> HttpResponse:
    body = await call.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("email"), str):
        raise KinveyError("IncompleteRequestBody", 'Send {"email": ...}.')
    await call.kinvey.mail.forgot_username(call.app, body["email"])
    return render.no_content()


async def remove_collection(call: KinveyCall) -> HttpResponse:
    """Drop a collection: master secret and ``X-Kinvey-Delete-Entire-Collection: true``."""
    if not call.flag("x-kinvey-delete-entire-collection"):
        raise KinveyError("MissingRequestHeader", "Send X-Kinvey-Delete-Entire-Collection: true.")
    body = await call.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("collectionName"), str):
        raise KinveyError("IncompleteRequestBody", 'Send {"collectionName": ...}.')
    check_collection_name(body["collectionName"])
    return render.value(
        {"count": await call.kinvey.entities.remove_collection(call.app, body["collectionName"])}
    )


async def send_email(call: KinveyCall) -> HttpResponse:
    """The Flex ``email`` module: send a message through the SMTP server of the settings (master
    secret). Answers ``{"mailServerResponse": ...}``."""
    return render.value(await call.kinvey.mail.send_flex_email(await call.json_body()))


# -- pages (no credentials: the one-time token is the credential) ------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input,button{{font-size:1rem;padding:.5rem;width:100%;margin:.3rem 0;box-sizing:border-box}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HttpResponse:
    return html_response(_PAGE.format(title=html.escape(title), body=body), status)


async def reset_page(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """The form a reset mail links to."""
    app = await core.apps.get(params["app_key"])
    token = request.params.get("token", "")
    if app is None or await core.kinvey.mail.redeem(app, token, "reset", consume=False) is None:
        return _page("Link expired", "<p>This link is invalid or has expired. Ask for a new one.</p>", 404)
    form = (
        f'<form method="post"><input type="hidden" name="token" value="{html.escape(token)}">'
        '<label>New password <input type="password" name="password" required minlength="1"></label>'
        '<label>Repeat it <input type="password" name="confirm" required></label>'
        "<button>Change my password</button></form>"
    )
    return _page(f"New password for {app.name}", form)


async def reset_submit(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """Set the new password (and sign out every session of the user)."""
    app = await core.apps.get(params["app_key"])
    try:
        raw = await request.body(64 * 1024)
    except BaaSError:
        return _page("Error", "<p>The form is too large.</p>", 413)
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    password = form.get("password", "")
    if app is None:
        return _page("Link expired", "<p>This link is invalid or has expired.</p>", 404)
    if not password or password != form.get("confirm"):
        return _page("Try again", "<p>The two passwords differ or are empty. Go back and retry.</p>", 400)
    if not await core.kinvey.mail.finish_reset(app, form.get("token", ""), password):
        return _page("Link expired", "<p>This link is invalid or has expired. Ask for a new one.</p>", 404)
    return _page(
        "Password changed", f"<p>Your {html.escape(app.name)} password was changed. Sign in again.</p>"
    )


async def verify_page(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """The page a verification mail links to: confirms the address."""
    app = await core.apps.get(params["app_key"])
    token = request.params.get("token", "")
    if app is None or not await core.kinvey.mail.finish_verification(app, token):
        return _page("Link expired", "<p>This link is invalid, was used, or has expired.</p>", 404)
    return _page("Address confirmed", f"<p>Thank you: your {html.escape(app.name)} address is confirmed.</p>")

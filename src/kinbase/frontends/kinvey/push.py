"""``/push/:appKey/...``: device registration (the session's user) and sending (the master
secret: the Flex ``push`` module, ``specs/kinvey.md`` §6.6).

A device is ``{platform, deviceId, service, framework}`` as the SDKs send it; a send answers what
the providers did: ``{sent, failed, removed, errors}`` (``docs/flex.md``, Push).
"""

from __future__ import annotations

from typing import Any

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.push import PushMessage, parse_device, recipient_ids
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.response import HttpResponse

__all__ = ["register_device", "send_broadcast", "send_message", "unregister_device"]


def _user_id(call: KinveyCall) -> str:
    user_id = call.auth.user_id
    if user_id is None:  # pragma: no cover - the route accepts sessions only
        raise KinveyError("InsufficientCredentials", "Register a device with the session of its user.")
    return user_id


async def register_device(call: KinveyCall) -> HttpResponse:
    """Register the device for the session's user (idempotent; moves a token from another user)."""
    device = parse_device(_user_id(call), await call.json_body())
    await call.core.push.devices.register(call.app, device)
    return render.no_content()


async def unregister_device(call: KinveyCall) -> HttpResponse:
    """Forget the device if it is registered for the session's user."""
    device = parse_device(_user_id(call), await call.json_body())
    await call.core.push.devices.unregister(call.app, device)
    return render.no_content()


async def _content(call: KinveyCall) -> tuple[dict[str, Any], PushMessage]:
    body = await call.json_body()
    if not isinstance(body, dict) or "messageContent" not in body:
        raise KinveyError("IncompleteRequestBody", 'Send {"messageContent": ...}.')
    return body, PushMessage.parse(body["messageContent"])


async def send_message(call: KinveyCall) -> HttpResponse:
    """Send a message to every device of the recipients (user entities or ids)."""
    body, message = await _content(call)
    if "recipients" not in body:
        raise KinveyError("IncompleteRequestBody", 'Send {"recipients": [...], "messageContent": ...}.')
    users = recipient_ids(body["recipients"])
    return render.value((await call.core.push.send(call.app, users, message)).as_json())


async def send_broadcast(call: KinveyCall) -> HttpResponse:
    """Send a message to every device registered with the app."""
    _, message = await _content(call)
    return render.value((await call.core.push.broadcast(call.app, message)).as_json())

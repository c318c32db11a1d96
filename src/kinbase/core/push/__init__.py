"""Push notifications: devices, providers (FCM HTTP v1, APNs HTTP/2, webhook), sending."""

from kinbase.core.push.devices import Device, DeviceService, parse_device
from kinbase.core.push.messages import PushMessage
from kinbase.core.push.providers import Delivery, PushProvider
from kinbase.core.push.service import PushReport, PushService, recipient_ids

__all__ = [
    "Delivery",
    "Device",
    "DeviceService",
    "PushMessage",
    "PushProvider",
    "PushReport",
    "PushService",
    "parse_device",
    "recipient_ids",
]

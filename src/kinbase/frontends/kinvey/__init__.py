"""The Kinvey REST API front-end: parse a Kinvey request, call the core, render Kinvey's format.

The route table is data (:mod:`.routes`); :class:`KinveyFrontend` serves it for the server.
"""

from __future__ import annotations

from kinbase.frontends.kinvey.frontend import KinveyFrontend
from kinbase.frontends.kinvey.routes import NAMESPACES, NESTED_NAMESPACES, ROUTES

__all__ = ["NAMESPACES", "NESTED_NAMESPACES", "ROUTES", "KinveyFrontend"]

"""The login services of one server process: MFA, the OAuth authorization server, logins."""

from __future__ import annotations

from collections.abc import Callable

from kinbase.core.apps import AppService
from kinbase.core.kinvey.login import LoginService
from kinbase.core.kinvey.mfa import MfaService
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.mic.identity import FlexAuthClient, IdentityChecker
from kinbase.core.mic.model import AuthServiceDirectory, StaticAuthServices
from kinbase.core.mic.server import AuthorizationServer
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend

__all__ = ["MicServices"]


class MicServices:
    """Kinvey logins with MFA and social identities, over kinbase's own authorization server.

    Args:
        directory: the apps' auth services (their configuration); none by default.
        flex: the client of the apps' Flex services, for FlexAuth identity sources.
    """

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        apps: AppService,
        kinvey: KinveyServices,
        secret: Callable[[], bytes],
        *,
        directory: AuthServiceDirectory | None = None,
        flex: FlexAuthClient | None = None,
    ) -> None:
        self.mfa = MfaService(
            storage,
            kinvey.throttle,
            session_seconds=settings.mfa_session_seconds,
            device_token_seconds=settings.mfa_device_token_seconds,
            recovery_codes=settings.mfa_recovery_codes,
        )
        self.identities = IdentityChecker(kinvey.users, self.mfa, kinvey.throttle, flex)
        self.oauth = AuthorizationServer(
            storage,
            apps,
            directory or StaticAuthServices(),
            self.identities,
            secret,
            code_seconds=settings.mic_code_seconds,
            access_token_seconds=settings.mic_access_token_seconds,
            refresh_token_seconds=settings.mic_refresh_token_seconds,
            login_page_seconds=settings.mic_login_page_seconds,
        )
        self.logins = LoginService(
            storage, kinvey.users, kinvey.sessions, self.mfa, kinvey.throttle, self.oauth
        )

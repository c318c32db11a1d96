"""The apps' auth services as the MIC authorization server sees them: the ``[auth.<id>]`` tables
of each app's configuration (:class:`~kinbase.core.mic.model.AuthServiceDirectory`)."""

from __future__ import annotations

from kinbase.core.appconfig.service import AppConfigService
from kinbase.core.mic.model import AuthService, FlexAuthSource, IdentitySource, UserStoreSource
from kinbase.storage.base import AppRecord

__all__ = ["ConfigAuthServices"]


class ConfigAuthServices:
    """Looks auth services up in the configuration in force (cached per worker by version)."""

    def __init__(self, appconfig: AppConfigService) -> None:
        self._appconfig = appconfig

    async def auth_service(self, app: AppRecord, service_id: str) -> AuthService | None:
        declared = (await self._appconfig.current(app)).auth.get(service_id)
        if declared is None:
            return None
        source: IdentitySource = (
            FlexAuthSource(declared.flex_auth.service, declared.flex_auth.handler)
            if declared.flex_auth is not None
            else UserStoreSource()
        )
        return AuthService(service_id, source, declared.redirect_uris)

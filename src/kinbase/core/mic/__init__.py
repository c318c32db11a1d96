"""Mobile Identity Connect: kinbase's OAuth 2.0 authorization server for Kinvey apps."""

from kinbase.core.mic.errors import LoginRefused, OAuthError
from kinbase.core.mic.model import AuthService, FlexAuthSource, Identity, UserStoreSource
from kinbase.core.mic.server import AuthorizationServer, LoginPage, TokenRequest

__all__ = [
    "AuthService",
    "AuthorizationServer",
    "FlexAuthSource",
    "Identity",
    "LoginPage",
    "LoginRefused",
    "OAuthError",
    "TokenRequest",
    "UserStoreSource",
]

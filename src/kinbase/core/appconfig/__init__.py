"""App configuration as data: one TOML file per app (``docs/app-config.md``)."""

from kinbase.core.appconfig.changes import Change
from kinbase.core.appconfig.model import AppConfig
from kinbase.core.appconfig.render import render_toml
from kinbase.core.appconfig.service import AppConfigService, ApplyResult
from kinbase.core.appconfig.validate import AppConfigInvalid, Problem, from_document, parse_toml

__all__ = [
    "AppConfig",
    "AppConfigInvalid",
    "AppConfigService",
    "ApplyResult",
    "Change",
    "Problem",
    "from_document",
    "parse_toml",
    "render_toml",
]

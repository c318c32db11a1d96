"""Settings: defaults, TOML file, environment, overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinbase.cli import render_settings_docs
from kinbase.core.kinto.config import KINTO_SETTINGS, KintoConfig
from kinbase.errors import ConfigurationError
from kinbase.settings import SETTINGS, Settings, load_settings


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.engine == "sqlite"
    assert settings.resolved_database_url == "sqlite:///" + str(Path("./data").resolve() / "kinbase.db")


def test_precedence_file_env_overrides(tmp_path: Path) -> None:
    config = tmp_path / "kinbase.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nworkers = 3\n[smtp]\nhost = "mail"\n')
    settings = load_settings(config, environ={"KINBASE_PORT": "9100"}, overrides={"workers": 2, "host": None})
    assert (settings.port, settings.host, settings.workers) == (9100, "0.0.0.0", 2)
    assert settings.extra == {"smtp": {"host": "mail"}}


def test_config_from_environment_and_kinbase_section(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text('[kinbase]\nlog_level = "WARNING"\naccess_log = true\n')
    settings = load_settings(environ={"KINBASE_CONFIG": str(config)})
    assert settings.log_level == "warning" and settings.access_log is True


def test_postgres_url() -> None:
    settings = load_settings(environ={"KINBASE_DATABASE_URL": "postgresql://u@h:5432/db"})
    assert settings.engine == "postgresql"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"KINBASE_PORT": "eighty"},
            "setting 'port' (from $KINBASE_PORT): expected an integer, got 'eighty'",
        ),
        ({"KINBASE_WORKERS": "0"}, "setting 'workers' (from $KINBASE_WORKERS): must be at least 1, got 0"),
        ({"KINBASE_SQLITE_SYNCHRONOUS": "off"}, "must be one of normal, full"),
        ({"KINBASE_ACCESS_LOG": "maybe"}, "expected true or false"),
        ({"KINBASE_DATABASE_URL": "mysql://x"}, "is not supported"),
        ({"KINBASE_POSTGRES_POOL_MIN": "9", "KINBASE_POSTGRES_POOL_MAX": "3"}, "at least postgres_pool_min"),
    ],
)
def test_validation_messages(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ=environ)
    assert message in info.value.message


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1")
    with pytest.raises(ConfigurationError, match="unknown setting 'prot'"):
        load_settings(unknown, environ={})
    typed = tmp_path / "typed.toml"
    typed.write_text('port = "80"\nhost = 5')
    with pytest.raises(ConfigurationError, match=r"setting 'host'.*expected a string"):
        load_settings(typed, environ={})


def test_settings_docs_are_generated_from_the_declarations() -> None:
    """docs/settings.md's tables are exactly what the declarations render (`kinbase settings --docs`)."""
    docs = (Path(__file__).parents[1] / "docs" / "settings.md").read_text()
    assert render_settings_docs(docs) == docs, "run: kinbase settings --docs docs/settings.md"
    for setting in SETTINGS:
        assert f"| `{setting.name}` | `{setting.env}` |" in docs, setting.name
    for kinto in KINTO_SETTINGS:
        assert f"| `{kinto.name}` |" in docs, kinto.name


def test_one_declaration_per_setting() -> None:
    """Defaults, types and validation come from the dataclass fields: nothing to drift."""
    defaults = Settings()
    for setting in SETTINGS:
        assert getattr(defaults, setting.name) == setting.default
        assert isinstance(setting.default, setting.type)
    assert {s.name for s in SETTINGS} == {f for f in Settings.__dataclass_fields__ if f != "extra"}
    assert KintoConfig() == KintoConfig(**{k.name: k.default for k in KINTO_SETTINGS})


def test_a_stale_docs_table_is_detected() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "settings.md").read_text()
    stale = docs.replace("| `port` | `KINBASE_PORT` | `8080` |", "| `port` | `KINBASE_PORT` | `80` |")
    assert render_settings_docs(stale) == docs

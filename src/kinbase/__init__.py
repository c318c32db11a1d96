"""kinbase: a self-hosted Backend-as-a-Service speaking the Kinvey REST API and the Kinto HTTP API."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]

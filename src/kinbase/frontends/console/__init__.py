"""kinbase's web console (``/console/``): apps, data, settings, configuration, the dashboard."""

from kinbase.frontends.console.frontend import NAMESPACES, ConsoleFrontend

__all__ = ["NAMESPACES", "ConsoleFrontend"]

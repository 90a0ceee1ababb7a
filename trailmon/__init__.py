"""trailmon: exact crime-scene proximity and appointment attendance from GPS tag trails."""

__version__ = "0.1.0"

__all__ = ["__version__"]

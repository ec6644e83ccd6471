"""WisPanel: a web-hosting control panel driven through a REST API."""

__version__ = "0.1.0"

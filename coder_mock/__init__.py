"""coder-mock: a fake Coder server for tests and frontend work."""

__version__ = "0.1.0"

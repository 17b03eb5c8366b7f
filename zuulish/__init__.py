"""zuulish: a project gating system that keeps every branch green."""

__version__ = "0.1.0"

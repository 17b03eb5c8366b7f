"""The built-in git forge: Gerrit-like changes on bare repositories."""

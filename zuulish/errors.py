"""The one base exception for problems a user caused.

Anything raised that is not a :class:`UserError` is a bug: it is logged with
its traceback. A ``UserError`` carries the message to show and, for
configuration, the file and line it points at.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str()`` gives the message to show."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file:
            return f"{self.file}: {self.message}"
        return self.message


class ConfigError(UserError):
    """An error in configuration (server, tenant or in-repo YAML)."""


class ForgeError(UserError):
    """A request to the built-in git forge that cannot be carried out."""


class ForgeUnavailable(UserError):
    """A remote forge (GitHub, Gerrit) cannot answer now: it is down, failing or
    rate-limiting. What needed the answer is tried again ``after`` seconds later,
    never given up: an event stays unprocessed, a merge stays pending."""

    def __init__(self, message: str, after: float = 30.0):
        super().__init__(message)
        self.after = max(1.0, after)


class StoreUnavailable(UserError):
    """The database cannot be reached or used."""


class OptionError(ValueError):
    """A driver's reporter option it refuses; ``mapping`` and ``key`` say where it is
    (the configuration error is then at that key's line)."""

    def __init__(self, message: str, mapping: object = None, key: object = None):
        super().__init__(message)
        self.mapping = mapping
        self.key = key


class ConfigErrors(ConfigError):
    """Several errors found in one configuration object, each with its own line."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line)
        self.errors = list(errors)

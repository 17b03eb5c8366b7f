"""Which connection's change a ``Depends-On:`` URL names, across every connection.

Each connection that has changes registers how it recognises its own change URLs;
a source that finds a footer it does not own asks here, so a change on the
built-in forge may depend on a GitHub pull request or a Gerrit change and the
reverse. Resolving only names the change: whether it is open or merged is the
enqueue planner's question (asking here could recurse through a cycle).
"""

from __future__ import annotations

from collections.abc import Callable

from zuulish.model import ChangeKey

#: a connection's resolver: the change number a URL of its own names, else None
Resolve = Callable[[str], "int | None"]


class ChangeUrls:
    def __init__(self) -> None:
        self._resolvers: list[tuple[str, Resolve]] = []

    def register(self, connection: str, resolve: Resolve) -> None:
        self._resolvers.append((connection, resolve))

    def resolve(self, url: str) -> ChangeKey | None:
        """The change ``url`` names on some connection; None when no connection
        recognises it (the first that does wins: connections are asked in the
        order ``zuulish.yaml`` lists them)."""
        for connection, resolve in self._resolvers:
            number = resolve(url)
            if number is not None:
                return ChangeKey(connection, number)
        return None

"""A tiny library the demo app depends on."""


def greet(name: str) -> str:
    return f"Hello, {name}!"

"""The demo application: greets whoever is named on the command line."""

import sys

from demolib import greet


def main(argv: list[str]) -> str:
    return greet(argv[1] if len(argv) > 1 else "world")


if __name__ == "__main__":
    print(main(sys.argv))

"""Follow the console files of one task on one host (stdlib only: it runs on nodes too).

zuulish's ``command`` module writes each run's output, whole lines as they are
printed, to ``<directory>/<prefix>-<n>.log`` (``n`` = 1, 2, ...: loop items and
retries of the task on the host, one after the other). ``Follower.poll`` returns
the lines written since the last call, moving on to file ``n + 1`` once it
exists (file ``n`` is complete then: its module has returned).

Run as a program (``python3 -c SOURCE DIRECTORY PREFIX``, over SSH on a remote
node) it prints ``+NAME`` when it opens a file and ``|LINE`` for each line,
polling until its standard input ends (the executor closes it when the task
ends, or the connection drops); then it reads what is left and exits.
"""

import os
import select
import sys

POLL_SECONDS = 0.2


class Follower:
    def __init__(self, directory, prefix):
        self.directory = directory
        self.prefix = prefix
        self.number = 1
        self.opened = []  # names of the files opened so far
        self._file = None
        self._partial = b""

    def _path(self, number):
        return os.path.join(self.directory, f"{self.prefix}-{number}.log")

    def poll(self, final=False):
        """Complete lines written since the last call; with ``final``, everything."""
        lines = []
        while True:
            if self._file is None:
                try:
                    self._file = open(self._path(self.number), "rb")  # noqa: SIM115 - kept open
                except OSError:
                    return lines
                self.opened.append(os.path.basename(self._path(self.number)))
            data = self._partial + self._file.read()
            *whole, self._partial = data.split(b"\n")
            lines += whole
            if not final and not os.path.exists(self._path(self.number + 1)):
                return lines
            # This file is complete (its module returned): read its end, go on.
            rest = self._partial + self._file.read()
            if rest:
                parts = rest.split(b"\n")
                if not parts[-1]:
                    parts.pop()
                lines += parts
            self._partial = b""
            self._file.close()
            self._file = None
            self.number += 1

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def main(argv):
    directory, prefix = argv[1], argv[2]
    follower = Follower(directory, prefix)
    out = sys.stdout.buffer
    shown = 0
    while True:
        ready = select.select([0], [], [], POLL_SECONDS)[0]
        ending = bool(ready) and not os.read(0, 4096)
        lines = follower.poll(final=ending)
        for name in follower.opened[shown:]:
            out.write(b"+" + name.encode() + b"\n")
        shown = len(follower.opened)
        for line in lines:
            out.write(b"|" + line + b"\n")
        out.flush()
        if ending:
            follower.close()
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

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

The files are the job's own: they are opened without following links (a link
planted in the console directory could otherwise put any file the follower can
read into the build log), only regular files are read, and a file past
``MAX_FILE_BYTES`` is no longer followed (a line in the log says so).
"""

import contextlib
import errno
import os
import select
import stat
import sys

POLL_SECONDS = 0.2
MAX_FILE_BYTES = 64 * 1024 * 1024  # a console file past this is no longer followed
MAX_LINE_BYTES = 1024 * 1024  # a longer line is cut into pieces of this size
CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Follower:
    """Follows ``<directory>/<prefix>-<n>.log``.

    The directory and its files are written by the job's own code: the directory
    (its last component) and each file are opened without following links, only
    regular files are read, and at most ``limit`` bytes of each; what is refused
    or cut short shows as a line in brackets."""

    def __init__(self, directory, prefix, limit=MAX_FILE_BYTES):
        self.directory = directory
        self.prefix = prefix
        self.limit = limit
        self.number = 1
        self.opened = []  # names of the files opened so far
        self._dir = None  # fd of the directory
        self._file = None  # fd of file ``number``
        self._size = 0  # bytes read of it
        self._skipping = False  # file ``number`` is not (or no longer) followed
        self._partial = b""
        self._refused = False  # the directory itself is refused

    def _name(self, number):
        return f"{self.prefix}-{number}.log"

    def _open_dir(self, lines):
        if self._dir is None and not self._refused:
            try:
                self._dir = os.open(self.directory, _DIR_FLAGS)
            except FileNotFoundError:
                return False
            except OSError as exc:
                self._refused = True
                why = ("is a symbolic link" if exc.errno in (errno.ELOOP, errno.ENOTDIR)
                       else exc.strerror)
                lines.append(b"[console directory %s %s: not followed]"
                             % (os.fsencode(self.directory), why.encode()))
        return self._dir is not None

    def _exists(self, number):
        try:
            os.stat(self._name(number), dir_fd=self._dir, follow_symlinks=False)
        except OSError:
            return False
        return True

    def _open(self, lines):
        """Open file ``number``; False when it is not there yet."""
        name = self._name(self.number)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self._dir)
        except FileNotFoundError:
            return False
        except OSError:
            fd = None
        if fd is not None and not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            fd = None
        self.opened.append(name)
        if fd is None:
            lines.append(b"[console file %s is not a regular file: not followed]"
                         % name.encode())
            self._skipping = True
        else:
            os.set_blocking(fd, True)
            self._file, self._size, self._skipping = fd, 0, False
        return True

    def _read(self, lines):
        """Add the complete lines that file ``number`` has now, up to the limit."""
        while self._file is not None:
            chunk = os.read(self._file, min(CHUNK, self.limit + 1 - self._size))
            if not chunk:
                break
            self._size += len(chunk)
            if self._size > self.limit:
                chunk = chunk[:len(chunk) - (self._size - self.limit)]
            *whole, self._partial = (self._partial + chunk).split(b"\n")
            lines += whole
            while len(self._partial) > MAX_LINE_BYTES:
                lines.append(self._partial[:MAX_LINE_BYTES])
                self._partial = self._partial[MAX_LINE_BYTES:]
            if self._size > self.limit:
                if self._partial:
                    lines.append(self._partial)
                self._partial = b""
                lines.append(b"[console file %s exceeds %d bytes: no longer followed]"
                             % (self._name(self.number).encode(), self.limit))
                self._close_file()
                self._skipping = True

    def _close_file(self):
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def poll(self, final=False):
        """Complete lines written since the last call; with ``final``, everything."""
        lines = []
        if not self._open_dir(lines):
            return lines
        while True:
            if self._file is None and not self._skipping and not self._open(lines):
                return lines
            self._read(lines)
            if not final and not self._exists(self.number + 1):
                return lines
            # This file is complete (its module returned): read its end, go on.
            self._read(lines)
            if self._partial:
                lines.append(self._partial)
            self._partial = b""
            self._close_file()
            self._skipping = False
            self.number += 1

    def close(self, remove=False):
        """Stop; with ``remove``, delete the files opened (links are removed, not
        followed)."""
        self._close_file()
        if self._dir is None:
            return
        if remove:
            for name in self.opened:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self._dir)
        os.close(self._dir)
        self._dir = None


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

#!/usr/bin/python
"""zuulish's ``command`` module: Ansible's command/shell, with a live console.

Ansible's ``command`` and ``shell`` actions (``ansible.builtin.*`` too) run the
module ``ansible.legacy.command``, which a module of that name in the library
path replaces; this is that module. It takes the builtin's options and returns
what the builtin returns, computed the same way (``AnsibleModule.run_command``
runs the command). zuulish's ``command``/``shell`` action plugins add two
options: ``zuulish_log_id`` and ``zuulish_console_dir``. With them, every line
the command prints (stdout and stderr, each line whole, in the order they
come) is also appended to ``<zuulish_console_dir>/<zuulish_log_id>.log`` as it
is printed, so the executor can show it while the command runs. A relative
``zuulish_console_dir`` is relative to the directory the module starts in (the
login directory on a remote node), before ``chdir``.
"""

from __future__ import annotations

import datetime
import glob
import os
import shlex
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.collections import is_iterable
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

DOCUMENTATION = r"""
module: command
short_description: Ansible's command module, writing a console file as it runs
description:
  - Runs a command as C(ansible.builtin.command) does (C(shell) too, through the
    action's C(_uses_shell)); with C(zuulish_log_id) its output is also written,
    line by line, to a console file while it runs.
options:
  _raw_params: {description: the command line, type: str}
  _uses_shell: {description: run through the shell, type: bool, default: false}
  argv: {description: the command as a list, type: list, elements: str}
  chdir: {description: change into this directory first, type: path}
  executable: {description: the shell to use (shell only), type: str}
  expand_argument_vars: {description: expand variables in arguments, type: bool, default: true}
  creates: {description: do not run when this glob matches, type: path}
  removes: {description: run only when this glob matches, type: path}
  stdin: {description: data for the command's standard input, type: str}
  stdin_add_newline: {description: end stdin with a newline, type: bool, default: true}
  strip_empty_ends: {description: strip final newlines of the output, type: bool, default: true}
  zuulish_log_id: {description: the console file's name (without .log), type: str}
  zuulish_console_dir: {description: the console file's directory, type: str}
"""


class _Console:
    """The console file: whole lines of both streams, appended as they come."""

    def __init__(self, path: str) -> None:
        # The directory and file are opened without following links: the job may
        # have planted links there (OSError: no console, the result has the output).
        directory, name = os.path.split(path)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            self._fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                               | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            os.close(self._fd)
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(self._fd, True)
        self._partial = {}

    def add(self, stream: str, chunk: bytes) -> None:
        data = self._partial.pop(stream, b"") + chunk
        whole, newline, rest = data.rpartition(b"\n")
        if rest:
            self._partial[stream] = rest
        if newline:
            self._write(whole + newline)

    def _write(self, data: bytes) -> None:
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        for stream in sorted(self._partial):  # a last line without its newline
            self._write(self._partial[stream] + b"\n")
        self._partial.clear()
        os.close(self._fd)


class _Tee:
    """One of the command's pipes: what run_command reads is copied to the console."""

    def __init__(self, pipe, console: _Console, stream: str) -> None:
        self._pipe = pipe
        self._console = console
        self._stream = stream

    def fileno(self) -> int:
        return self._pipe.fileno()

    def read(self, size: int = -1):
        chunk = self._pipe.read(size)
        if chunk:
            self._console.add(self._stream, chunk)
        return chunk

    def close(self) -> None:
        self._pipe.close()


def _console_path(params) -> str | None:
    """Where the console file goes (None: no console); resolved before ``chdir``."""
    log_id, directory = params["zuulish_log_id"], params["zuulish_console_dir"]
    if not log_id or not directory or "/" in log_id or log_id.startswith("."):
        return None
    return os.path.join(os.path.abspath(os.path.expanduser(directory)), log_id + ".log")


def _open_console(path: str | None) -> _Console | None:
    if path is None:
        return None
    try:
        return _Console(path)
    except OSError:
        return None  # no live console: the output still comes with the result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "_raw_params": {},
            "_uses_shell": {"type": "bool", "default": False},
            "argv": {"type": "list", "elements": "str"},
            "chdir": {"type": "path"},
            "executable": {},
            "expand_argument_vars": {"type": "bool", "default": True},
            "creates": {"type": "path"},
            "removes": {"type": "path"},
            "stdin": {"required": False},
            "stdin_add_newline": {"type": "bool", "default": True},
            "strip_empty_ends": {"type": "bool", "default": True},
            "zuulish_log_id": {"type": "str"},
            "zuulish_console_dir": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    shell, executable = p["_uses_shell"], p["executable"]
    command, argv = p["_raw_params"], p["argv"]
    result = {"changed": False, "stdout": "", "stderr": "", "rc": None, "cmd": None,
              "start": None, "end": None, "delta": None, "msg": ""}
    if executable and not shell:
        module.warn("As of Ansible 2.4, the parameter 'executable' is no longer supported "
                    f"with the 'command' module. Not using '{executable}'.")
        executable = None
    if not argv and (not command or not command.strip()):
        module.fail_json(**{**result, "rc": 256, "msg": "no command given"})
    if command and argv:
        module.fail_json(**{**result, "rc": 256,
                            "msg": "only command or argv can be given, not both"})
    args = shlex.split(command) if command and not shell else (command or argv)
    if is_iterable(args, include_strings=False):
        args = [to_native(a, errors="surrogate_or_strict", nonstring="simplerepr")
                for a in args]
    result["cmd"] = args
    console_path = _console_path(p)  # before chdir: see the module's description
    console = None
    try:
        if p["chdir"]:
            try:
                os.chdir(to_bytes(p["chdir"], errors="surrogate_or_strict"))
            except OSError as exc:
                module.fail_json(**{**result, "msg": "Unable to change directory before "
                                                     f"execution: {to_text(exc)}"})
        would = "Would" if module.check_mode else "Did"
        if p["creates"] and glob.glob(p["creates"]):
            result.update(msg=f"{would} not run command since '{p['creates']}' exists",
                          stdout=f"skipped, since {p['creates']} exists", rc=0)
        elif p["removes"] and not glob.glob(p["removes"]):
            result.update(
                msg=f"{would} not run command since '{p['removes']}' does not exist",
                stdout=f"skipped, since {p['removes']} does not exist", rc=0)
        if result["msg"]:
            module.exit_json(**result)
        result["changed"] = True
        if module.check_mode:
            result.update(rc=0, msg="Command would have run if not in check mode")
            if p["creates"] is None and p["removes"] is None:
                result.update(skipped=True, changed=False)
        else:
            def tee(process) -> None:
                if console is not None:
                    process.stdout = _Tee(process.stdout, console, "stdout")
                    process.stderr = _Tee(process.stderr, console, "stderr")

            console = _open_console(console_path)
            started = datetime.datetime.now()
            result["rc"], result["stdout"], result["stderr"] = module.run_command(
                args, executable=executable, use_unsafe_shell=shell, encoding=None,
                data=p["stdin"], binary_data=not p["stdin_add_newline"],
                expand_user_and_vars=p["expand_argument_vars"],
                before_communicate_callback=tee)
            ended = datetime.datetime.now()
            result.update(start=to_text(started), end=to_text(ended),
                          delta=to_text(ended - started))
    finally:
        if console is not None:
            console.close()
    if p["strip_empty_ends"]:
        result["stdout"] = to_text(result["stdout"]).rstrip("\r\n")
        result["stderr"] = to_text(result["stderr"]).rstrip("\r\n")
    if result["rc"] != 0:
        module.fail_json(**{**result, "msg": "non-zero return code"})
    module.exit_json(**result)


if __name__ == "__main__":
    main()

"""A Gerrit connection's settings in ``zuulish.yaml`` (Zuul's names).

Example (see README "Gerrit")::

    connections:
      gerrit:
        driver: gerrit
        server: review.example.com
        user: zuul                          # the account zuulish votes and submits as
        sshkey: /etc/zuulish/gerrit_id_ed25519   # its SSH key (stream-events)
        known_hosts: /etc/zuulish/gerrit_known_hosts  # the server's host key
        password: <the account's HTTP password>   # REST: votes, comments, submit
        # baseurl: https://review.example.com/r   # default https://<server>
        # port: 29418
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.drivers.settings import Setting, read_settings
from zuulish.errors import ConfigError

KNOWN = {
    "server": Setting(str, required=True),
    "user": Setting(str, required=True),
    "port": Setting(int, 29418),
    "baseurl": Setting(str),
    "canonical_hostname": Setting(str),
    "sshkey": Setting(str, "~/.ssh/id_rsa"),
    "keepalive": Setting(int, 60),
    "password": Setting(str),
    "auth_type": Setting(str, "basic", choices=("basic",)),
    "verify_ssl": Setting(bool, True),
    "git_over_ssh": Setting(bool, False),
    "gitweb_url_template": Setting(str),
    "stream_events": Setting(bool, True),
    # zuulish's own: the server's SSH host key(s), OpenSSH known_hosts format; without
    # it the user's ~/.ssh/known_hosts is used. An unknown host key is refused.
    "known_hosts": Setting(str),
}
REFUSED = {
    "event_source": "zuulish reads Gerrit's events from stream-events over SSH or from "
                    "the webhooks plugin; Kafka, Kinesis and Pub/Sub are not supported",
}


@dataclass(frozen=True)
class GerritSettings:
    name: str
    server: str
    user: str
    port: int = 29418
    baseurl: str = ""
    canonical_hostname: str = ""
    sshkey: Path | None = None
    keepalive: int = 60
    password: str | None = None
    verify_ssl: bool = True
    git_over_ssh: bool = False
    gitweb_url_template: str | None = None
    stream_events: bool = True
    known_hosts: Path | None = None


def _path(value: str | None, path: Path | str | None) -> Path | None:
    if value is None:
        return None
    base = Path(path).parent if path is not None else Path.cwd()
    return (base / Path(value).expanduser()).resolve()


def read_gerrit_settings(name: str, options: dict[str, Any],
                         path: Path | str | None) -> GerritSettings:
    values = read_settings(name, options, KNOWN, REFUSED, path)
    file = str(path) if path is not None else None
    if not 0 < values["port"] < 65536:
        raise ConfigError(f"connections.{name}.port must be a TCP port, not "
                          f"{values['port']}", file=file)
    baseurl = (values["baseurl"] or f"https://{values['server']}").rstrip("/")
    if not baseurl.startswith(("https://", "http://")):
        raise ConfigError(f"connections.{name}.baseurl must be an http(s) URL, not "
                          f"{baseurl!r}", file=file)
    sshkey = _path(values["sshkey"], path)
    if values["stream_events"] and (sshkey is None or not sshkey.is_file()):
        raise ConfigError(f"connections.{name}.sshkey: no file {sshkey}; stream-events needs "
                          "the SSH key of the Gerrit account", file=file)
    known_hosts = _path(values["known_hosts"], path)
    if known_hosts is not None and not known_hosts.is_file():
        raise ConfigError(f"connections.{name}.known_hosts: no file {known_hosts}",
                          file=file)
    return GerritSettings(
        name=name, server=values["server"], user=values["user"], port=values["port"],
        baseurl=baseurl, canonical_hostname=values["canonical_hostname"] or values["server"],
        sshkey=sshkey, keepalive=values["keepalive"], password=values["password"],
        verify_ssl=values["verify_ssl"], git_over_ssh=values["git_over_ssh"],
        gitweb_url_template=values["gitweb_url_template"],
        stream_events=values["stream_events"], known_hosts=known_hosts)

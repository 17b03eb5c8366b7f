"""The ``logs:`` section of ``zuulish.yaml``: where finished builds' logs are kept.

``{store: local}`` (the default) keeps them in ``<state_dir>/logs/<build>/`` on
the executor's disk; ``{store: s3, bucket: NAME, endpoint_url: URL, region: R,
prefix: P}`` uploads them to an S3-compatible bucket. Credentials are never
here: boto3 finds them as usual (``AWS_ACCESS_KEY_ID`` and the rest of its chain).
"""

from __future__ import annotations

from dataclasses import dataclass

STORES = ("local", "s3")


@dataclass(frozen=True)
class LogSettings:
    store: str = "local"
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""  # no leading or trailing slash

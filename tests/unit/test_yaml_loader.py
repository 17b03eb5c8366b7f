"""The configuration YAML reader: PyYAML's meaning, with file and line on every container."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from tests.corpus import ZUUL_CONFIGS
from zuulish.config.yaml_loader import EncryptedValue, LineDict, LineList, load_yaml
from zuulish.errors import ConfigError

CORPUS = ZUUL_CONFIGS

TRICKY = """\
base: &base {timeout: 3600, tags: [a, b]}
alias: *base
merged:
  <<: *base
  timeout: 60
numbers: [017, 0, 12, 0x1f, 1_000, 1.5, 1e3, .inf, -7, +3]
words: [yes, no, on, off, True, ~, null, "017", '3', 2001-12-14, plain]
string: !!str 12
binary: !!binary aGVsbG8=
secret: !encrypted/pkcs1-oaep [abc, def]
one: !encrypted/pkcs1-oaep xyz
repeated: 1
repeated: 2
"""


def plain(value: Any) -> Any:
    """``value`` with our containers turned into plain ones, for comparison."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, EncryptedValue):
        return ("encrypted", value.ciphertext)
    return value


def pyyaml(text: str) -> Any:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!encrypted/pkcs1-oaep", lambda loader, node: (
        "encrypted", [loader.construct_scalar(node)] if isinstance(node, yaml.ScalarNode)
        else [loader.construct_scalar(n) for n in node.value]))
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def test_values_mean_what_pyyaml_says() -> None:
    data = load_yaml(TRICKY, "t.yaml")
    assert plain(data) == pyyaml(TRICKY)
    assert data["numbers"][:4] == [15, 0, 12, 31]  # YAML 1.1 octal and hex, as Zuul reads
    assert data["words"][-2] == datetime.date(2001, 12, 14)
    assert data["alias"] is data["base"]  # an alias is the same object
    assert data["merged"]["timeout"] == 60 and data["merged"]["tags"] == ["a", "b"]
    assert data["repeated"] == 2  # the last of a repeated key wins, as in Zuul


def test_every_container_knows_its_file_and_line() -> None:
    data = load_yaml("- job:\n    name: a\n    vars:\n      x: [1, 2]\n", "zuul.yaml")
    assert isinstance(data, LineList) and (data.file, data.line) == ("zuul.yaml", 1)
    job = data[0]["job"]
    assert isinstance(job, LineDict) and job.line == 2
    assert job["vars"].line == 4 and job["vars"]["x"].line == 4


@pytest.mark.parametrize("text, message, line", [
    ("? [a]\n: 1\n", "unhashable key", 1),
    ("a: !unknown 1\n", "could not determine a constructor for the tag '!unknown'", 1),
    ("a:\n  b: [\n", "YAML syntax error", 3),
])
def test_bad_yaml_is_an_error_with_file_and_line(text: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(text, "bad.yaml")
    assert message in str(caught.value)
    assert (caught.value.file, caught.value.line) == ("bad.yaml", line)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside this checkout")
def test_public_configurations_read_as_pyyaml_reads_them() -> None:
    files = sorted(CORPUS.glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert plain(load_yaml(text, str(path))) == pyyaml(text), path

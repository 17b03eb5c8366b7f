"""Where the shared wire-format corpus is: ``../shared/corpus`` beside the checkout,
else ``$ZUULISH_CORPUS``, else ``/work/shared/corpus`` (where a clone elsewhere on
the machine, such as CI's, still finds it). Tests that need it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [Path(__file__).resolve().parents[1].parent / "shared" / "corpus",
               *([Path(os.environ["ZUULISH_CORPUS"])] if os.environ.get("ZUULISH_CORPUS")
                 else []),
               Path("/work/shared/corpus")]
CORPUS_ROOT = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
ZUUL_CONFIGS = CORPUS_ROOT / "zuul-configs"

"""Fixtures shared by the data tests."""
from __future__ import annotations

from typing import Any

import pytest

from data.demo.world import build_demo_corpus, resolve_manifest
from tests.data.data_helpers import tokenizer
from tests.data.dbs.test_corpus import DEMO_DIM


@pytest.fixture(scope="session")
def demo_manifest(tmp_path_factory) -> dict[str, Any]:
    """The demo corpus (feature dim 32), built once per session; shared by the data tests."""
    out = tmp_path_factory.getbasetemp() / "dataset_tests_demo_corpus"
    if not (out / "manifest.json").is_file():
        build_demo_corpus(out, feature_dim=DEMO_DIM, seed=0, tokenizer=tokenizer(), log=lambda m: None,
                          overwrite=True)
    return resolve_manifest(out)

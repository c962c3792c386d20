"""Session-wide fixtures."""
import pytest


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """The demo corpus, built once per test session with the real tokenizer."""
    from data.demo.world import build_demo_corpus
    out = tmp_path_factory.mktemp("demo") / "demo_data"
    build_demo_corpus(out, log=lambda _m: None)
    return out

"""Free-text moment search: ``inf_vcmr.py --query / --queries`` on the demo corpus, and the corpus-embedding cache
(reused by a second search, re-encoded when the checkpoint or a db changes) on a corpus made from .srt / .vtt
files with one video without subtitles."""
import json

import numpy as np
import pytest
import torch

from config.loader import load_config
from config.schema import VcmrConfig
from data.dbs.subtitle_db import build_subtitle_db
from data.dbs.video_db import VideoFeatureDb, build_video_db
from data.prepro.tokenization import default_tokenizer_path
from pretrained.checkpoint_file import model_writer
from tasks.vcmr import build_vcmr_model, open_task_corpus
from tasks.vcmr_search import open_search
from tests.helpers_runs import run_script, tiny_vcmr_config
from utils.distributed import Distributed


def random_checkpoint(config, path, seed):
    """A randomly initialised tiny HeroForVcmr saved as a project checkpoint (what fine-tuning writes)."""
    cfg = load_config(VcmrConfig, config, ["--seed", str(seed)])
    model = build_vcmr_model(cfg, open_task_corpus(cfg), Distributed(), lambda _m: None)
    model_writer(model.config)(path, model.state_dict())
    return path


@pytest.fixture(scope="module")
def demo_search(demo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    config = tiny_vcmr_config(tmp, demo_dir)
    return tmp, config, random_checkpoint(config, tmp / "model.pt", seed=1)


def test_inf_vcmr_query_prints_and_writes_moments_and_reuses_the_cache(demo_search):
    tmp, config, checkpoint = demo_search
    queries = tmp / "queries.txt"
    queries.write_text("\ufeffshe walks into the apartment\n\n  a man opens the door  \n", encoding="utf-8")
    args = ["inf_vcmr.py", "--config", str(config), "--checkpoint", str(checkpoint), "--output_dir", str(tmp / "out"),
            "--query", "he sits on the couch", "--query", "they laugh", "--queries", str(queries), "--top-k", "5"]
    first = run_script(args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "encoding 400 videos" in first.stdout and "corpus embeddings from" not in first.stdout
    lines = (tmp / "out/results_search/moments.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    assert [r["query"] for r in results] == ["he sits on the couch", "they laugh", "she walks into the apartment",
                                             "a man opens the door"]
    names = set(VideoFeatureDb(load_config(VcmrConfig, config).vfeat_db).ids())
    for r in results:
        assert [m["rank"] for m in r["moments"]] == [1, 2, 3, 4, 5]
        assert all(m["video"] in names and 0 <= m["start"] < m["end"] for m in r["moments"])
        scores = [m["score"] for m in r["moments"]]
        assert scores == sorted(scores, reverse=True)
    best = results[0]["moments"][0]
    assert "query: he sits on the couch" in first.stdout
    printed = first.stdout.split("query: he sits on the couch\n", 1)[1].splitlines()[0].split()
    assert printed == ["1", best["video"], f"{best['start']:.2f}", "s", f"{best['end']:.2f}", "s", "score",
                       f"{best['score']:.4f}"]
    assert (tmp / "out/corpus_embeddings.pt").is_file()
    second = run_script(args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"corpus embeddings from {tmp / 'out/corpus_embeddings.pt'}" in second.stdout
    assert "encoding" not in second.stdout
    assert (tmp / "out/results_search/moments.jsonl").read_text().splitlines() == lines


def test_inf_vcmr_evaluation_reuses_the_search_cache(demo_search):
    """After a search, evaluating the same checkpoint and dbs in that output_dir takes the candidate videos'
    embeddings from the search's cache; the predictions equal a run that encodes the corpus."""
    tmp, config, checkpoint = demo_search
    search = ["inf_vcmr.py", "--config", str(config), "--checkpoint", str(checkpoint), "--output_dir",
              str(tmp / "reuse"), "--query", "a man opens the door"]
    assert run_script(search).returncode == 0
    evaluate = ["inf_vcmr.py", "--config", str(config), "--checkpoint", str(checkpoint), "--split", "val"]
    reused = run_script([*evaluate, "--output_dir", str(tmp / "reuse")])
    assert reused.returncode == 0, reused.stderr[-2000:]
    assert "embeddings from the corpus cache" in reused.stdout and "encoded " not in reused.stdout
    fresh = run_script([*evaluate, "--output_dir", str(tmp / "fresh")])
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "encoded " in fresh.stdout and "corpus cache" not in fresh.stdout
    reused_metrics = json.loads((tmp / "reuse/results_val/metrics.json").read_text())
    fresh_metrics = json.loads((tmp / "fresh/results_val/metrics.json").read_text())
    for task in ("VCMR", "SVMR", "VR"):  # batches differ (all 400 videos vs the val candidates): near ties only
        for name, value in fresh_metrics[task].items():
            assert abs(reused_metrics[task][name] - value) <= 0.6, (task, name)


def test_a_query_without_tokens_or_a_missing_queries_file_is_one_line(demo_search):
    tmp, config, checkpoint = demo_search
    base = ["inf_vcmr.py", "--config", str(config), "--checkpoint", str(checkpoint), "--output_dir", str(tmp / "bad")]
    for extra, problem in ((["--query", "   "], "a query is empty"),
                           (["--queries", str(tmp / "nope.txt")], "nope.txt")):
        result = run_script(base + extra)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:") and problem in lines[0]


SRT = "1\n00:00:00,000 --> 00:00:04,000\n{text}\n\n2\n00:00:03,000 --> 00:00:09,000\n<i>and then</i> {more}\n"


@pytest.fixture()
def own_corpus(tmp_path, demo_dir):
    """Six 'own videos' (128-d features, 6–20 frames) with .srt / .vtt subtitles beside them, one without."""
    rng = np.random.default_rng(3)
    frames = {f"video{i}": int(n) for i, n in enumerate(rng.integers(6, 21, size=6))}
    build_video_db(((v, rng.standard_normal((n, 128), dtype=np.float32)) for v, n in frames.items()),
                   tmp_path / "video_db")
    videos = tmp_path / "videos"
    videos.mkdir()
    texts = ["a man opens the door", "she cooks pasta", "the dog runs outside", "two friends argue", "rain falls"]
    for i, text in enumerate(texts):
        if i % 2:
            (videos / f"video{i}.vtt").write_text("WEBVTT\n\n" + SRT.replace(",", ".").format(text=text, more="more"))
        else:
            (videos / f"video{i}.srt").write_text(SRT.format(text=text, more="more"))
    stats = build_subtitle_db(videos, tmp_path / "video_db", tmp_path / "sub_db", default_tokenizer_path())
    assert stats["without_subtitles"] == 1 and stats["videos"] == 6  # video5 has no subtitle file
    config = tiny_vcmr_config(tmp_path, demo_dir, sub_txt_db=str(tmp_path / "sub_db"),
                              vfeat_db=str(tmp_path / "video_db"), vcmr_eval_video_batch_size=4)
    return tmp_path, config, random_checkpoint(config, tmp_path / "model.pt", seed=1)


def test_cache_is_reused_and_invalidated_by_a_new_checkpoint_or_db(own_corpus):
    tmp, config, checkpoint = own_corpus
    cfg = load_config(VcmrConfig, config, ["--checkpoint", str(checkpoint)])
    cache = tmp / "cache.pt"

    def search():
        messages = []
        searcher = open_search(cfg, Distributed(), messages.append, cache)
        cached = [m for m in messages if m.startswith(("encoding", "corpus embeddings from"))]
        assert len(cached) == 1
        return cached[0].split()[0], searcher.moments("a man opens the door", k=3), searcher

    how, moments, searcher = search()
    assert how == "encoding" and len(moments) == 3 and cache.is_file()
    assert "video5" in searcher.names  # the video without subtitles is searched too
    assert search()[:2] == ("corpus", moments)  # reused, same moments

    random_checkpoint(config, checkpoint, seed=2)  # a new checkpoint at the same path
    how, moments_new_ckpt, _ = search()
    assert how == "encoding" and moments_new_ckpt != moments
    assert search()[0] == "corpus"

    old = VideoFeatureDb(tmp / "video_db")
    rebuilt = [(v, old[v] * -1.0) for v in old.ids()]
    old.close()
    build_video_db(rebuilt, tmp / "video_db", overwrite=True)  # the db rebuilt in place with other features
    how, moments_new_db, _ = search()
    assert how == "encoding" and moments_new_db != moments_new_ckpt
    saved = torch.load(cache, weights_only=True)
    assert saved["names"] == sorted(f"video{i}" for i in range(6))

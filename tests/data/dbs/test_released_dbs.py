"""Released HERO dbs read as they are: every field as the reference's readers would yield it, and bad input
as one line naming db, key and field (tests/released_fixture.py writes the reference layouts)."""
import io

import lmdb
import lz4.frame
import msgpack
import numpy as np
import pytest

from data.dbs.corpus import VideoCorpus, parse_span_seconds
from data.dbs.db_reader import DbError
from data.dbs.query_db import QueryDb
from data.dbs.subtitle_db import SubtitleDb
from data.dbs.video_db import VideoFeatureDb
from evaluation.vcmr_inference import candidate_videos
from tests.released_fixture import MAX_CLIP_LEN, write_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("release"))


def reference_sub2frames(record: dict, max_clip_len: int) -> list[tuple[int, list[int]]]:
    """SubTokLmdb's walk over ``unique_sub2frames``: drop frames >= max_clip_len, keep a subtitle with an
    in-range frame or no frame at all, stop after the first subtitle that lost a frame."""
    kept = []
    for sub_idx, frames in record["unique_sub2frames"]:
        in_range = [f for f in frames if f < max_clip_len]
        if in_range or not frames:
            kept.append((sub_idx, in_range))
        if len(in_range) < len(frames):
            break
    return kept


@pytest.mark.parametrize("dataset", ["tv", "how2"])  # tv: compressed npz values, how2: msgpack-numpy values
def test_clips_equal_what_the_reference_readers_yield(release, dataset):
    ds = getattr(release, dataset)
    corpus = VideoCorpus(SubtitleDb(release.txt / f"{dataset}_subtitles.db"), VideoFeatureDb(release.video / dataset),
                         max_clip_len=MAX_CLIP_LEN)
    assert sorted(corpus.ids()) == sorted(ds.videos)
    assert corpus.feature_dim == ds.features[next(iter(ds.features))].shape[1]
    assert corpus.token_ids.cls == 0 and corpus.token_ids.sep == 2 and corpus.token_ids.pad == 1
    assert corpus.token_ids.mask == 50264 and corpus.token_ids.vocab_size == 50265
    cut = 0
    for vid, record in ds.subtitles.items():
        clip = corpus.clip(vid)
        n = min(ds.videos[vid], MAX_CLIP_LEN)
        expected = reference_sub2frames(record, MAX_CLIP_LEN)
        cut += len(expected) < len(record["input_ids"])
        assert clip.frame_feats.dtype.is_floating_point and str(clip.frame_feats.dtype) == "torch.float32"
        np.testing.assert_array_equal(clip.frame_feats.numpy(), ds.features[vid][:n].astype(np.float32))
        assert clip.num_subs == len(expected)
        assert [i for i, _ in expected] == list(range(len(expected)))  # a prefix: sub_idx = position
        assert [f.tolist() for f in clip.owned_frames()] == [frames for _, frames in expected]
        assert clip.tokens == [record["input_ids"][i] for i, _ in expected]
        item = corpus.make_item(clip)
        assert item.subtitle_ids == [[2, *record["input_ids"][i]] for i, _ in expected]  # [SEP] + tokens
    assert cut >= 1  # the long video lost subtitles to max_clip_len


def test_query_records_and_side_files(release):
    tvr = QueryDb(release.txt / "tvr_val.db")
    assert not tvr.is_qa and tvr.has_labels and tvr.meta["id_field"] == "desc_id" and len(tvr) == 12
    for qid in tvr.ids():
        record = tvr[int(qid)]
        assert str(record["desc_id"]) == qid and tvr.query2video[qid] == record["vid_name"]
        assert tvr.id2len[qid] == len(record["input_ids"]) and isinstance(record["ts"], list)
    test = QueryDb(release.txt / "tvr_test_public.db")
    assert not test.has_labels and test.query2video == {}
    qa = QueryDb(release.txt / "tvqa_val.db")
    assert qa.is_qa and qa.has_labels and qa.meta["id_field"] == "qid"
    record = qa[qa.ids()[0]]
    assert len(record["input_ids"]) == 6 and qa.id2len[qa.ids()[0]] == [len(x) for x in record["input_ids"]]
    assert parse_span_seconds(record["ts"]) is not None and 0 <= record["answer_idx"] < 5
    assert not QueryDb(release.txt / "tvqa_test_public.db").has_labels


def test_candidate_videos_are_the_split_of_vid2dur_idx(release):
    corpus = VideoCorpus(release.txt / "tv_subtitles.db", release.video / "tv", MAX_CLIP_LEN)
    for split in ("val", "test_public"):
        names, index = candidate_videos(corpus, QueryDb(release.txt / f"tvr_{split}.db"), split)
        assert names == sorted(release.tv.splits[split])
        assert index == {v: release.tv.official[v] for v in names}


def test_lmdb_folder_itself_and_the_choice_between_two_encodings(release, copy):
    only = VideoFeatureDb(release.video / "tv" / "resnet_slowfast_1.5_compressed")
    assert only.path == release.video / "tv" and only.released.lmdb_dir.name == "resnet_slowfast_1.5_compressed"
    with pytest.raises(DbError, match=r"named resnet_slowfast_2.0\[_compressed\].*found: resnet_slowfast_1.5_comp"):
        VideoFeatureDb(release.video / "tv", "resnet_slowfast", vfeat_interval=2.0)
    import shutil

    tv = copy / "video_db" / "tv"
    shutil.copytree(copy / "video_db" / "how2" / "resnet_slowfast_1.5", tv / "resnet_slowfast_1.5")
    assert VideoFeatureDb(tv, compressed=True).released.lmdb_dir.name == "resnet_slowfast_1.5_compressed"
    assert VideoFeatureDb(tv, compressed=False).released.lmdb_dir.name == "resnet_slowfast_1.5"
    with pytest.raises(DbError, match="expected one LMDB folder"):
        VideoFeatureDb(tv)


def put(db, key: str, value: bytes) -> None:
    env = lmdb.open(str(db), subdir=True, lock=False, map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(key.encode(), value)
    env.close()


@pytest.fixture()
def copy(release, tmp_path):
    import shutil

    shutil.copytree(release.root, tmp_path / "r")
    return tmp_path / "r"


def test_a_folder_of_neither_layout(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    for reader in (VideoFeatureDb, SubtitleDb, QueryDb):
        with pytest.raises(FileNotFoundError) as error:
            reader(tmp_path / "x")
        assert "neither a db of this library nor a released HERO db" in str(error.value)
        assert "\n" not in str(error.value)


def test_truncated_record_names_db_and_key(copy):
    db = copy / "txt_db" / "tv_subtitles.db"
    key = next(iter(SubtitleDb(db).ids()))
    env = lmdb.open(str(db), readonly=True, lock=False)
    with env.begin() as txn:
        value = txn.get(key.encode())
    env.close()
    put(db, key, value[: len(value) // 2])
    with pytest.raises(DbError) as error:
        SubtitleDb(db)[key]
    assert str(db) in str(error.value) and repr(key) in str(error.value) and "does not decode" in str(error.value)


def test_npz_that_needs_pickle_is_refused(copy):
    lmdb_dir = copy / "video_db" / "tv" / "resnet_slowfast_1.5_compressed"
    db = VideoFeatureDb(copy / "video_db" / "tv")
    key = db.ids()[-1]
    db.close()  # the feature size was read at open: let the test write the LMDB
    buffer = io.BytesIO()
    np.savez_compressed(buffer, features=np.array([np.zeros(3), "x"], dtype=object))
    put(lmdb_dir, key, buffer.getvalue())
    with pytest.raises(DbError) as error:
        VideoFeatureDb(copy / "video_db" / "tv")[key]
    message = str(error.value)
    assert repr(key) in message and "'features'" in message and "pickle" in message and "\n" not in message


def test_msgpack_numpy_object_array_is_refused(copy):
    lmdb_dir = copy / "video_db" / "how2" / "resnet_slowfast_1.5"
    db = VideoFeatureDb(copy / "video_db" / "how2")
    key = db.ids()[-1]
    db.close()
    pickled = {b"nd": True, b"type": "|O", b"kind": b"O", b"shape": [2], b"data": b"\x80\x04not run"}
    put(lmdb_dir, key, msgpack.packb({"features": pickled}, use_bin_type=True))
    with pytest.raises(DbError, match=r"object array .*never unpickles"):
        VideoFeatureDb(copy / "video_db" / "how2")[key]


def test_subtitle_record_with_a_wrong_field(copy):
    db = copy / "txt_db" / "tv_subtitles.db"
    key = SubtitleDb(db).ids()[0]
    record = {"input_ids": [[5, 6]], "unique_sub2frames": [[3, [0, 1]]]}
    put(db, key, lz4.frame.compress(msgpack.packb(record, use_bin_type=True)))
    with pytest.raises(DbError, match=rf"record '{key}' field 'unique_sub2frames' names subtitle 3 but the record"):
        SubtitleDb(db)[key]


def test_a_query_db_given_as_subtitle_db(release):
    with pytest.raises(DbError, match="released queries db, not a subtitles db"):
        SubtitleDb(release.txt / "tvr_val.db")

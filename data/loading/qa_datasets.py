"""Video QA datasets (TVQA, TVQA+, How2QA): one item = one question on its clip (hero-reference.md §4.3).

The clip's subtitle rows are ``[SEP]`` + tokens without truncation (fine-tuning); the collate
(:func:`data.task_collate.collate_video_qa`) replicates the clip once per answer candidate and appends
``[SEP] q [SEP] a_k`` to every row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.dbs.corpus import VideoCorpus, frame_span_label, parse_span_seconds
from data.dbs.query_db import QueryDb
from data.loading.sampling import KeyedDataset
from data.loading.task_collate import QaExample, collate_video_qa
from model.inputs import VideoQaBatch


class VideoQaDataset(KeyedDataset):
    """Questions of a QA db whose clip is in the corpus.

    Labels: ``answer_idx`` (−1 if absent) and the span of ``ts`` in frames with the VCMR rule
    (:func:`data.corpus.frame_span_label`; ``(−1, −1)`` if absent or unparsable). With ``training``,
    questions with ``|q| + max|a| > max_txt_len`` are dropped (reference ``TxtTokLmdb`` rule). ``dropped``
    counts each reason. Every question of the db must have the same number of answers (the batch
    layout needs it).

    Args:
        corpus: the clips.
        query_db: a QA query db (reader or directory).
        max_txt_len: longest training question + answer (None = no limit); TVQA uses 120.
        training: apply the length filter.
        seed: example randomness seed (QA items have none; kept for a uniform interface).
    """

    stream_name = "videoqa"

    def __init__(self, corpus: VideoCorpus, query_db: QueryDb | str, max_txt_len: int | None = 120,
                 training: bool = True, seed: int = 0) -> None:
        super().__init__(seed)
        db = query_db if isinstance(query_db, QueryDb) else QueryDb(query_db)
        if not db.is_qa:
            raise ValueError(f"{db.path} is a retrieval db; VideoQaDataset needs a QA db")
        corpus.check_tokenizer(db.meta, str(db.path))
        self.corpus, self.db = corpus, db
        self.dropped = {"no_video": 0, "too_long": 0}
        self.question_ids: list[str] = []
        num_answers: set[int] = set()
        for qid in db.ids():
            lengths = db.id2len[qid]  # [|q|, |a0|, |a1|, ...]
            if db.query2video.get(qid) not in corpus:
                self.dropped["no_video"] += 1
            elif training and max_txt_len is not None and lengths[0] + max(lengths[1:]) > max_txt_len:
                self.dropped["too_long"] += 1
            else:
                self.question_ids.append(qid)
                num_answers.add(len(lengths) - 1)
        if not self.question_ids:
            raise ValueError(f"no usable question in {db.path} (dropped: {self.dropped})")
        if len(num_answers) != 1:
            raise ValueError(f"{db.path}: questions have {sorted(num_answers)} answers; a QA db needs one count")
        self.num_answers = num_answers.pop()

    def __len__(self) -> int:
        return len(self.question_ids)

    def example(self, index: int, rng: np.random.Generator) -> QaExample:
        qid = self.question_ids[index]
        record = self.db[qid]
        clip = self.corpus.clip(self.db.query2video[qid])
        question, *answers = record["input_ids"]
        answer = record.get("answer_idx")
        span = frame_span_label(parse_span_seconds(record.get("ts")), len(clip.frame_owner),
                                self.corpus.frame_interval)
        return QaExample(item=self.corpus.make_item(clip), question=list(question),
                         answers=[list(a) for a in answers],
                         answer_target=-1 if answer is None else int(answer), span_target=span)

    def collate(self, examples: Sequence[QaExample]) -> VideoQaBatch:
        ids = self.corpus.token_ids
        return collate_video_qa(examples, ids.sep, ids.pad)

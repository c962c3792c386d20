"""Every HeroFor<Task> on a tiny config: shapes, finite losses, gradients reach the right parts."""
import pytest
import torch

from data.loading.collate import collate_text, collate_videos
from data.loading.task_collate import (
    MlmExample,
    QaExample,
    collate_fom,
    collate_mfm,
    collate_mlm,
    collate_retrieval,
    collate_video_qa,
)
from model.heads.retrieval import RetrievalWeights
from model.hero import HeroModel
from model.inputs import MffrBatch, MfmNceBatch
from model.outputs import FomOutput, MffrOutput, MfmNceOutput, MlmOutput, RetrievalOutput
from model.pretrain import HeroForPretraining
from model.vcmr import HeroForVcmr
from model.video_qa import HeroForVideoQA
from tests.helpers import CLS, PAD, SEP, random_items, tiny_config


@pytest.fixture(scope="module")
def config():
    return tiny_config()


def pretrain_batches(items):
    masks = [torch.arange(len(i.frame_feats)) % 3 == 1 for i in items]
    orders = [torch.arange(len(i.frame_feats)) for i in items]
    for order in orders:
        order[[1, 2]] = order[[2, 1]]
    fom_targets = [torch.where(o != torch.arange(len(o)), torch.arange(len(o))[o.argsort()], -1) for o in orders]
    queries = [[[CLS, 7, 8, 9], [CLS, 10, 11]] for _ in items]
    spans = [[[0, 1], [1, 2]] for _ in items]
    return {
        MlmOutput: collate_mlm([MlmExample(items[0].frame_feats[:2], [CLS, 4, 9], [-1, 12, -1]),
                                MlmExample(items[1].frame_feats[:0], [CLS, 4], [-1, 30])], PAD),
        MfmNceOutput: collate_mfm(items, masks, PAD, MfmNceBatch),
        MffrOutput: collate_mfm(items, masks, PAD, MffrBatch),
        FomOutput: collate_fom(items, orders, fom_targets, PAD),
        RetrievalOutput: collate_retrieval(items, queries, spans, PAD),
    }


def test_backbone_shapes(config):
    items = random_items(lengths=(7, 5, 9))
    frames = HeroModel(config).eval()(collate_videos(items, PAD))
    assert frames.shape == (3, 9, config.hidden_size)


@pytest.mark.parametrize("output_type", [MlmOutput, MfmNceOutput, MffrOutput, FomOutput, RetrievalOutput])
def test_pretraining_objective_runs_and_trains(config, output_type):
    torch.manual_seed(0)
    model = HeroForPretraining(config)
    batch = pretrain_batches(random_items())[output_type]
    output = model(batch)
    assert isinstance(output, output_type)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)
    output.loss.backward()
    grad = model.hero.cross_modal.encoder.layers[0].attention.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    if output_type is MlmOutput:  # MLM never reaches the temporal transformer
        assert model.hero.temporal.encoder.layers[0].attention.qkv.weight.grad is None


def test_mfm_nce_negatives_exclude_padding_unless_reference_mode(config):
    from model.pretrain import PretrainHeadConfig
    items = random_items(lengths=(7, 5, 9))
    batch = pretrain_batches(items)[MfmNceOutput]
    masked = int(batch.video.clip_mfm_mask.sum())
    real = int(batch.video.clip_mask.sum())
    fixed = HeroForPretraining(config).eval()(batch)
    assert fixed.negatives.shape[0] == real - masked
    reference = HeroForPretraining(config, heads=PretrainHeadConfig(nce_negatives_from_padding=True)).eval()(batch)
    assert reference.negatives.shape[0] == batch.video.clip_mask.numel() - masked


def test_fom_targets_are_original_positions(config):
    items = random_items()
    batch = pretrain_batches(items)[FomOutput]
    # order swaps frames 1 and 2, so position 1 holds frame 2 and position 2 holds frame 1
    assert batch.targets[0, :3].tolist() == [-1, 2, 1]


def test_unknown_batch_type_is_a_clear_error(config):
    with pytest.raises(TypeError, match="no objective for"):
        HeroForPretraining(config)(collate_videos(random_items(), PAD))


def test_vcmr_training_and_inference_scores(config):
    torch.manual_seed(0)
    model = HeroForVcmr(config)
    items = random_items(lengths=(6, 8))
    batch = collate_retrieval(items, [[[CLS, 5, 6]], [[CLS, 7]]], [[[0, 2]], [[3, 5]]], PAD)
    out = model(batch, RetrievalWeights(lw_st_ed=0.01, lw_neg_ctx=8, lw_neg_q=8, use_hard_negative=True))
    assert out.st_logits.shape == (2, 8) and out.q2video_scores.shape == (2, 2)
    assert out.st_logits[0, 6:].eq(-1e4).all()  # padding frames of the 6-frame clip are masked
    out.loss.backward()
    model.eval()
    with torch.no_grad():
        frames = model.encode_videos(batch.video)
        queries = model.encode_queries(batch.queries)
        scores = model.score(queries, frames, batch.video.clip_mask)
    assert scores.st_logits.shape == (2, 2, 8) and scores.q2video_scores.abs().max() <= 1


def test_span_loss_off_when_weight_is_zero(config):
    model = HeroForVcmr(config).eval()
    batch = collate_retrieval(random_items(lengths=(6, 8)), [[[CLS, 5]], [[CLS, 7]]], [[[0, 2]], [[3, 5]]], PAD)
    out = model(batch, RetrievalWeights(0.0, 1.0, 1.0, False))
    assert out.loss_span == 0 and out.loss > 0


def test_video_qa_outputs_and_missing_labels(config):
    torch.manual_seed(0)
    model = HeroForVideoQA(config, lw_st_ed=0.4)
    items = random_items(lengths=(6, 8))
    examples = [QaExample(items[0], [20, 21], [[30], [31, 32], [33], [34], [35]], 2, (1, 3)),
                QaExample(items[1], [22], [[36], [37], [38], [39], [40]], -1, (-1, -1))]
    out = model(collate_video_qa(examples, SEP, PAD))
    assert out.logits.shape == (2, 5) and out.st_logits.shape == (2, 8)
    assert torch.allclose(out.loss, out.qa_loss + 0.4 * out.temporal_loss)
    out.loss.backward()
    assert model.qa_head.answer_pool.weight.grad.abs().sum() > 0
    unlabelled = model(collate_video_qa(examples[1:], SEP, PAD))
    assert unlabelled.loss == 0


def test_qa_candidates_must_agree(config):
    items = random_items(lengths=(4, 4))
    with pytest.raises(ValueError, match="same number of answers"):
        collate_video_qa([QaExample(items[0], [5], [[6], [7]]), QaExample(items[1], [5], [[6]])], SEP, PAD)


@pytest.mark.parametrize("output_type", [MlmOutput, MfmNceOutput, FomOutput, RetrievalOutput])
def test_bf16_autocast_step_is_finite_and_close_to_fp32(config, output_type):
    torch.manual_seed(0)
    model = HeroForPretraining(config).eval()
    batch = pretrain_batches(random_items())[output_type]
    fp32 = model(batch).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(batch)
    assert torch.isfinite(bf16.loss)
    assert abs(bf16.loss.item() - fp32.item()) <= 0.05 * abs(fp32.item()) + 0.05
    bf16.loss.backward()


def test_packed_query_encoding_equals_the_padded_pass(config):
    torch.manual_seed(0)
    hero = HeroModel(config).eval()
    text = collate_text([[CLS, 5, 6, 7, 8], [CLS, 9], [CLS, 10, 11]], PAD)
    cross = hero.cross_modal
    with torch.no_grad():
        padded = cross.encoder(cross.text_embeddings(text.ids, text.positions), text.mask)
        packed = hero.encode_text(text)
    torch.testing.assert_close(packed[text.mask], padded[text.mask], atol=1e-6, rtol=1e-5)
    assert packed[~text.mask].eq(0).all()

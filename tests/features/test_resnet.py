"""features/resnet.py: torchvision key layout (strict load) and the same numbers as HF transformers' ResNet."""
from __future__ import annotations

import re

import pytest
import torch

from features.resnet import resnet152
from features.weights import WeightsError, load_strict


def hf_to_torchvision(name: str) -> str:
    """HF ``ResNetModel`` parameter name → torchvision's (the public ImageNet checkpoints' layout)."""
    name = name.replace("embedder.embedder.convolution", "conv1").replace("embedder.embedder.normalization", "bn1")
    m = re.match(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(.*)", name)
    if not m:
        return name
    stage, block, rest = int(m[1]), m[2], m[3]
    rest = re.sub(r"shortcut\.convolution", "downsample.0", rest)
    rest = re.sub(r"shortcut\.normalization", "downsample.1", rest)
    rest = re.sub(r"layer\.(\d)\.convolution", lambda g: f"conv{int(g[1]) + 1}", rest)
    rest = re.sub(r"layer\.(\d)\.normalization", lambda g: f"bn{int(g[1]) + 1}", rest)
    return f"layer{stage + 1}.{block}.{rest}"


@pytest.fixture(scope="module")
def hf_resnet152():
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(layer_type="bottleneck", depths=[3, 8, 36, 3], hidden_sizes=[256, 512, 1024, 2048],
                          embedding_size=64, downsample_in_bottleneck=False)
    model = ResNetModel(config).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so eval-mode normalisation is compared too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.0)
            m.bias.data.normal_(0, 0.1)
    return model


def test_matches_hf_resnet_with_mapped_weights_loaded_strictly(hf_resnet152, tmp_path):
    state = {hf_to_torchvision(k): v for k, v in hf_resnet152.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 2048) * 0.01, torch.zeros(1000)
    path = tmp_path / "resnet152.pth"
    torch.save(state, path)
    ours = resnet152().eval()
    load_strict(ours, path, "torchvision ResNet-152")  # strict=True inside
    images = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        want = hf_resnet152(pixel_values=images).pooler_output.flatten(1)
        got = ours(images)
    assert got.shape == (2, 2048)
    assert want.abs().max() > 0.1  # not a degenerate all-zero comparison
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_state_dict_of_another_layout_names_the_file_and_keys(hf_resnet152, tmp_path):
    path = tmp_path / "hf_layout.pth"
    torch.save(hf_resnet152.state_dict(), path)  # HF names: not torchvision's
    with pytest.raises(WeightsError) as err:
        load_strict(resnet152(), path, "torchvision ResNet-152")
    msg = str(err.value)
    assert msg.startswith(f"{path}: not a torchvision ResNet-152 state dict") and "conv1.weight" in msg
    assert "embedder.embedder.convolution.weight" in msg

"""Pre-training heads: MLM, masked frame modelling (NCE and regression), frame order (§2.2–2.7)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import HeroModelConfig
from ..layers import OUTER_LAYER_NORM_EPS, MLPLayer


class MlmHead(nn.Module):
    """dense → GELU → LayerNorm → decoder tied to the word embeddings (+ own bias)."""

    def __init__(self, config: HeroModelConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        hidden = config.f_config.hidden_size
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=OUTER_LAYER_NORM_EPS)
        self.decoder = nn.Linear(hidden, config.f_config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied, as in the reference
        self.bias = nn.Parameter(torch.zeros(config.f_config.vocab_size))
        # Logits for rows that only pad the table to a multiple of 8 are dropped.
        self.num_predicted = config.text_vocab_size or config.f_config.vocab_size

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (M, D) → vocabulary logits (M, V)."""
        logits = self.decoder(self.norm(F.gelu(self.dense(hidden)))) + self.bias
        return logits[:, :self.num_predicted]


class FrameFeatureRegression(nn.Module):
    """Linear → GELU → LayerNorm → Linear(D → Dv): predicts a raw frame feature (MFFR and MFM-NCE)."""

    def __init__(self, config: HeroModelConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.fc1 = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=OUTER_LAYER_NORM_EPS)
        self.fc2 = nn.Linear(hidden, config.vfeat_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.norm(F.gelu(self.fc1(hidden))))


def mfm_nce_loss(predictions: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                 temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise-contrastive loss of HERO's MFM-NCE (§2.5), per masked frame.

    Row i scores its prediction against every masked frame's true feature (column i is the
    positive) and against the negatives. Scores are computed in fp32: raw features give large logits.

    Returns:
        (M,) losses and (M,) bool hits (the positive scored highest).
    """
    predictions = predictions.float()
    scores = torch.cat([predictions @ targets.float().t(), predictions @ negatives.float().t()], 1)
    scores = scores / temperature  # (M, M + U)
    labels = torch.arange(len(predictions), device=predictions.device)
    return F.cross_entropy(scores, labels, reduction="none"), scores.argmax(1) == labels


class FrameOrderHead(nn.Module):
    """MLP(D → max_clip_len): logits over the original position of each frame slot."""

    def __init__(self, config: HeroModelConfig) -> None:
        super().__init__()
        self.mlp = MLPLayer(config.hidden_size, config.max_clip_len)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mlp(hidden)

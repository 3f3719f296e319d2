"""The optional generative mode: a local causal language model (``caption_lm``) that writes
a caption from a span's audio, prefix-conditioned on it (ClipCap style).

The span's audio, projected into the sentence space (``AudioProjection``), is mapped by a
linear layer to ``PREFIX`` embeddings that precede the caption's tokens. That mapping and
the language model learn together on people's edited captions (the caption-alignment
job); both are saved in the new version's folder (``caption_prefix.safetensors``, the
tuned model's weights included: a large model makes large versions). What it writes is
one more candidate: checked against the measured attributes and scored by the same reward
as the composed ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emostudio.features.text import EMBEDDING_DIM

PREFIX = 8
MAX_TOKENS = 40
PREFIX_FILE, PREFIX_CONFIG = "caption_prefix.safetensors", "caption_prefix.json"


class PrefixCaptioner(nn.Module):
    """A causal language model and the audio-to-prefix mapping that steers it."""

    def __init__(self, lm_folder: str | Path, prefix: int = PREFIX):
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.lm_folder = Path(lm_folder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.lm_folder, local_files_only=True)
        self.lm = AutoModelForCausalLM.from_pretrained(self.lm_folder, local_files_only=True).eval()
        self.prefix = prefix
        self.hidden = self.lm.get_input_embeddings().embedding_dim
        self.mapping = nn.Linear(EMBEDDING_DIM, prefix * self.hidden)
        nn.init.normal_(self.mapping.weight, std=0.02)
        nn.init.zeros_(self.mapping.bias)

    def prefix_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, PREFIX, hidden]`` from projected audio ``[B, 384]`` (made unit length)."""
        return self.mapping(F.normalize(audio, dim=-1)).view(len(audio), self.prefix, self.hidden)

    def _ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        eos = self.tokenizer.eos_token_id
        return ids + ([eos] if eos is not None else [])

    def loss(self, audio: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """The language model's loss on each caption's tokens after its audio's prefix."""
        ids = [self._ids(t) for t in texts]
        width = max(map(len, ids))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        tokens = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
        labels = torch.tensor([i + [-100] * (width - len(i)) for i in ids])
        embeds = torch.cat([self.prefix_embeddings(audio), self.lm.get_input_embeddings()(tokens)], 1)
        labels = torch.cat([torch.full((len(texts), self.prefix), -100), labels], 1)
        mask = torch.cat(
            [torch.ones(len(texts), self.prefix, dtype=torch.long), (labels[:, self.prefix :] != -100).long()], 1
        )
        return self.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss

    @torch.inference_mode()
    def generate(self, audio: np.ndarray) -> str:
        """A caption for one span's projected audio (greedy decoding)."""
        embeds = self.prefix_embeddings(torch.from_numpy(np.asarray(audio, np.float32))[None])
        out = []
        past = None
        step = embeds
        for _ in range(MAX_TOKENS):
            result = self.lm(inputs_embeds=step, past_key_values=past, use_cache=True)
            past = result.past_key_values
            token = int(result.logits[0, -1].argmax())
            if token == self.tokenizer.eos_token_id:
                break
            out.append(token)
            step = self.lm.get_input_embeddings()(torch.tensor([[token]]))
        text = " ".join(self.tokenizer.decode(out, skip_special_tokens=True).split())
        return text[:1].upper() + text[1:] if text else text

    def fit(self, audio: np.ndarray, texts: list[str], epochs: int = 200, lr: float = 1e-3, seed: int = 0) -> float:
        """Train the mapping on (projected audio, caption) pairs; returns the last loss."""
        torch.manual_seed(seed)
        x = torch.from_numpy(np.asarray(audio, np.float32))
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=0.0)
        self.train()
        loss = torch.tensor(0.0)
        for _ in range(epochs):
            loss = self.loss(x, texts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.eval()
        return float(loss.detach())

    # -- persistence ---------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_model

        folder = Path(folder)
        save_model(self, str(folder / PREFIX_FILE))  # handles the model's tied embedding and output weights
        config = {"prefix": self.prefix, "hidden": self.hidden, "lm": self.lm_folder.name}
        (folder / PREFIX_CONFIG).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path, lm_folder: str | Path) -> PrefixCaptioner | None:
        """The mapping trained for ``lm_folder``'s model in ``folder``; None when there is
        none, or it was trained for a model of another width."""
        from safetensors.torch import load_model

        folder = Path(folder)
        if not (folder / PREFIX_FILE).is_file():
            return None
        config = json.loads((folder / PREFIX_CONFIG).read_text())
        generator = cls(lm_folder, prefix=config["prefix"])
        if generator.hidden != config["hidden"]:
            return None
        load_model(generator, str(folder / PREFIX_FILE))
        return generator.eval()

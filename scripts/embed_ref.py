"""A reference for the embedding model, with no torch: BERT's forward pass
in NumPy, reading the same safetensors, tokenised by the `tokenizers`
package, then mean pooling and L2 normalisation (what sentence-transformers
does for all-MiniLM-L6-v2). Issue 6 checks candle's vectors against these.

Usage: python3 scripts/embed_ref.py MODEL_DIR [--max-tokens N] < texts.jsonl
Reads one JSON string per line; writes one JSON list of 384 floats per line.
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    # BERT's exact GELU (erf), as "hidden_act": "gelu".
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(weights, config, ids):
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in weights.items()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = hidden // heads
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(
            lin(ctx, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(
            lin(h, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model = sys.argv[1]
    max_tokens = 256
    if "--max-tokens" in sys.argv:
        max_tokens = int(sys.argv[sys.argv.index("--max-tokens") + 1])
    config = json.load(open(f"{model}/config.json"))
    weights = load_file(f"{model}/model.safetensors")
    tokenizer = Tokenizer.from_file(f"{model}/tokenizer.json")
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    for line in sys.stdin:
        text = json.loads(line)
        ids = tokenizer.encode(text).ids
        print(json.dumps([round(float(v), 7) for v in embed(weights, config, ids)]))


if __name__ == "__main__":
    main()

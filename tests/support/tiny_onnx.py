"""A tiny BERT-shaped ONNX classifier and WordLevel tokenizer, built with ``onnx`` alone.

The graph is the shape of an exported sequence classifier: token embeddings, a masked mean
over the tokens, a dense layer with tanh and a linear classifier to one logit per label.
The weights are set by hand so that attack words push the ``INJECTION`` logit up and harm
words the ``HARM`` one, which lets the tests check the real loading, windowing, batching and
calling code on a model whose answers are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

__all__ = ["ATTACK_WORDS", "HARM_WORDS", "LABELS", "write_tiny_classifier"]

LABELS = ("BENIGN", "INJECTION", "HARM")
ATTACK_WORDS = ("ignore", "previous", "instructions", "jailbreak", "zephyr")
HARM_WORDS = ("nerve", "agent", "synthesis")
_PLAIN = ("hello", "world", "please", "summarise", "the", "report", "weather", "today")
_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def _vocab() -> dict[str, int]:
    words = (*_SPECIAL, *_PLAIN, *ATTACK_WORDS, *HARM_WORDS)
    return {word: index for index, word in enumerate(words)}


def _weights(vocab: dict[str, int]) -> dict[str, np.ndarray]:
    embed = np.zeros((len(vocab), 3), dtype=np.float32)
    for word, index in vocab.items():
        embed[index] = [1.0, 0.0, 0.0]
        if word in ATTACK_WORDS:
            embed[index] = [0.0, 3.0, 0.0]
        elif word in HARM_WORDS:
            embed[index] = [0.0, 0.0, 3.0]
    return {
        "embed": embed,
        "dense_w": np.eye(3, dtype=np.float32),
        "dense_b": np.zeros(3, dtype=np.float32),
        "out_w": np.diag([4.0, 4.0, 4.0]).astype(np.float32),
        "out_b": np.asarray([0.0, -1.0, -1.0], dtype=np.float32),
        "axes": np.asarray([1], dtype=np.int64),
        "one": np.asarray(1.0, dtype=np.float32),
    }


def _graph(weights: dict[str, np.ndarray], token_types: bool) -> onnx.GraphProto:
    nodes = [
        helper.make_node("Gather", ["embed", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axes"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axes"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "dense_w"], ["dense"]),
        helper.make_node("Add", ["dense", "dense_b"], ["dense_b1"]),
        helper.make_node("Tanh", ["dense_b1"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "out_w"], ["scaled"]),
        helper.make_node("Add", ["scaled", "out_b"], ["logits"]),
    ]
    weights = {**weights, "last": np.asarray([-1], dtype=np.int64)}
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
    ]
    if token_types:  # declared like BERT exports do; unused by the arithmetic
        inputs.append(
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])
        )
        nodes.append(helper.make_node("Identity", ["token_type_ids"], ["types_unused"]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])]
    if token_types:
        outputs.append(
            helper.make_tensor_value_info("types_unused", TensorProto.INT64, ["batch", "seq"])
        )
    initializers = [numpy_helper.from_array(value, name) for name, value in weights.items()]
    return helper.make_graph(nodes, "tiny_classifier", inputs, outputs, initializers)


def write_tiny_classifier(folder: Path, token_types: bool = True) -> tuple[Path, Path]:
    """Write ``model.onnx`` and ``tokenizer.json`` into ``folder``; return their paths."""
    vocab = _vocab()
    model = helper.make_model(
        _graph(_weights(vocab), token_types), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    model_path = folder / "model.onnx"
    onnx.save(model, str(model_path))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer_path = folder / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    return model_path, tokenizer_path

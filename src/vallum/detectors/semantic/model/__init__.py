"""Package data: the shipped fine-tuned semantic model (int8 ONNX), its tokenizer and meta.json."""

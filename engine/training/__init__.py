"""Training and evaluation: the data pipeline, tokenizer training, the training loop and the metrics."""

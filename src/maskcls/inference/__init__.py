"""Inference: run folders → probabilities → submissions."""

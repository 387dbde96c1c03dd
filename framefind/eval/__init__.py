"""Measuring retrieval quality: datasets, metrics, the evaluation runner and its HTML report."""

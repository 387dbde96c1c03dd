"""Embedding models behind one interface: the offline default (EfficientNet-Lite0 + ConSE) and CLIP."""

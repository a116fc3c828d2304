"""Shared `keras.ops` functions used by nipkit layers and models."""

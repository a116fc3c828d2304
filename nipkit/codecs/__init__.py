"""The learned codec's non-Keras parts: its bitstream and reading codec files.

The layer itself is `nipkit.layers.LearnedCodec`; this package holds what it needs
outside the Keras graph: the entropy coder (`constriction`'s ANS) with the stream header,
and `load_codec`, which finds the codec in a `.keras` file or run folder.
"""

"""Emotion captions: a sentence on how the speaker feels and sounds, per clip and per
speech segment, true to the measured voice and the model's reading of it.

- ``attributes``: the voice measured from prosody frames, placed against a reference.
- ``phrases``: the attribute-to-phrase tables captions are written from and read back with.
- ``compose``: candidate captions from the facts, with varied phrasing.
- ``captioner``: the semantic-calibrated self-reward that picks the best candidate.
- ``describe``: a media's clip and segments as facts, and their captions.
- ``generative``: an optional local language model, prefix-conditioned on the audio.
"""

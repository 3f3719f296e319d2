"""emostudio: multimodal emotion analysis and annotation studio."""

import os as _os

# The studio holds recordings of people's voices and faces: nothing it runs may call home.
# Gradio's usage analytics and the Hugging Face Hub's telemetry and downloads are off
# before either library is imported (a user's own environment still wins).
for _key, _value in {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}.items():
    _os.environ.setdefault(_key, _value)

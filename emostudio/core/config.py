"""One settings object for the whole studio.

Values come from, in order of precedence: arguments given in code, environment
variables ``EMOSTUDIO_<FIELD>`` (e.g. ``EMOSTUDIO_DATA_DIR``), then a TOML file
(``emostudio.toml`` in the working directory, or the file named by
``EMOSTUDIO_CONFIG``), then the defaults below.

Example ``emostudio.toml``::

    data_dir = "/srv/emostudio"
    database_url = "postgresql+psycopg://emo@localhost/emostudio"
    port = 8080
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from emostudio.core.paths import ARRAYS_FOLDER


def config_file() -> Path:
    return Path(os.environ.get("EMOSTUDIO_CONFIG", "emostudio.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOSTUDIO_", extra="forbid")

    data_dir: Path = Path("emostudio-data")
    """Holds the SQLite database, copied uploads (media/) and the feature cache (cache/)."""
    database_url: str | None = None
    """Any SQLAlchemy URL; default: SQLite at <data_dir>/emostudio.db."""
    device: str = "auto"
    """Where analysis and training run: auto (the GPU when there is one), cpu, cuda, cuda:1, mps.
    It places the emotion model, the face model, the sentence encoder, local Hugging Face
    encoders and Whisper (CTranslate2, float16 on a GPU)."""
    model_dir: Path | None = None
    """Where trained model versions are written; default <data_dir>/models."""
    host: str = "127.0.0.1"
    """Without users the studio only listens on the loopback interface (127.0.0.1, ::1, localhost)."""
    port: int = 7860
    import_roots: list[Path] = []
    """Server folders the Library page may import from (and label files may name media in).
    Empty: any folder when the studio has no users (one person on their own machine),
    none when it has users, until an admin lists them here."""
    start_worker: bool = True
    """Start one background worker process with the studio."""
    worker_poll_seconds: float = 2.0
    heartbeat_seconds: float = 5.0
    """How often the server and workers record that they are alive."""
    worker_stale_seconds: float = 30.0
    """A worker silent this long is dead: its job goes back to the queue."""
    asr_model: str = "whisper-base"
    """Speech recognition for media without a transcript: whisper-base (multilingual, the
    language detected per speech region), whisper-tiny.en (English only, faster), or the
    path of a CTranslate2 Whisper folder."""
    video_fps: float = 2.0
    """Rate (frames per second) at which video frames are sampled for face analysis."""
    copy_imports: bool = False
    """Copy CLI imports into the store. Uploads through the UI are always copied."""
    caption_lm: Path | None = None
    """Optional: a local folder holding a causal language model and its tokenizer
    (transformers' ``save_pretrained`` layout, e.g. a GPT-2). When set, the caption-alignment
    job also trains a prefix that conditions it on a span's audio, and analysis adds the
    sentence it generates to the candidates the captioner scores (it is kept only if it
    contradicts nothing measured and wins the reward). Nothing is downloaded."""
    label_set: dict[str, str] = {}
    """The labels annotators choose from in this library, each mapped onto a class the
    models know (``name = class``, e.g. ``frustrated = "anger"``); an annotation keeps the
    name as its ``raw_label`` and the class as its ``label``. Empty: the model's own
    classes. In emostudio.toml::

        [label_set]
        calm = "neutral"
        happy = "happiness"
        frustrated = "anger"
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'emostudio.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def arrays_dir(self) -> Path:
        """Chunk-level outputs, one file per media and model version (``emostudio.db.arrays``)."""
        return self.data_dir / ARRAYS_FOLDER

    @property
    def backups_dir(self) -> Path:
        """Automatic backups before each migration and restore land here."""
        return self.data_dir / "backups"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def models_dir(self) -> Path:
        return self.model_dir or self.data_dir / "models"


def torch_device(setting: str | None = None):
    """The ``torch.device`` a device setting names (``auto``: CUDA, else Apple's MPS, else the CPU)."""
    import torch

    setting = setting or get_settings().device
    if setting != "auto":
        return torch.device(setting)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

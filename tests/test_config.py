from pathlib import Path

from emostudio.core.config import Settings


def test_defaults_put_everything_under_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.data_dir == Path("emostudio-data")
    assert s.db_url == f"sqlite:///{tmp_path / 'emostudio-data' / 'emostudio.db'}"
    assert s.media_dir == Path("emostudio-data/media") and s.models_dir == Path("emostudio-data/models")
    assert (s.host, s.port) == ("127.0.0.1", 7860)


def test_env_overrides_toml_which_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emostudio.toml").write_text(
        'data_dir = "/srv/emo"\nport = 8080\ndatabase_url = "postgresql+psycopg://u@h/db"\n'
    )
    monkeypatch.setenv("EMOSTUDIO_PORT", "9000")
    s = Settings()
    assert s.data_dir == Path("/srv/emo") and s.port == 9000
    assert s.db_url == "postgresql+psycopg://u@h/db"


def test_config_file_can_be_named_by_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('device = "cuda:1"\nvideo_fps = 5.0\n')
    monkeypatch.setenv("EMOSTUDIO_CONFIG", str(cfg))
    s = Settings()
    assert s.device == "cuda:1" and s.video_fps == 5.0

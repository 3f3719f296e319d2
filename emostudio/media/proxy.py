"""Browser-playable copies (proxies) of media a browser cannot play: FLV, AVI, WMV,
MPEG-PS, some Matroska codecs, AMR or WMA audio.

A proxy is H.264 video (yuv420p, even width and height) with AAC audio in an MP4 with
its index at the front (it starts playing before it is fully downloaded), or AAC in an
M4A for audio-only media; made with PyAV (the FFmpeg it ships), once per content hash:
``<cache>/proxies/<hash[:2]>/<hash>.mp4``. The original is what analysis reads; the
proxy is only what the player shows.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av

from emostudio.core.domain import Media

# What browsers play, by container (PyAV's format names) and codec.
PLAYABLE_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "wav", "mp3", "flac", "ogg"}
PLAYABLE_VIDEO = {"h264", "vp8", "vp9", "av1"}
PLAYABLE_AUDIO = {"aac", "mp3", "mp3float", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le", "pcm_f32le", "pcm_u8"}
PROXY_FOLDER = "proxies"


def needs_proxy(media: Media) -> bool:
    """Whether a browser cannot play the file as it is. Matroska plays in Chromium and
    Firefox only with WebM's codecs; an MP4 only with H.264/VP9/AV1 and AAC/MP3/Opus."""
    info = media.info
    if info.container not in PLAYABLE_CONTAINERS:
        return True
    if info.has_video and (info.video_codec or "") not in PLAYABLE_VIDEO:
        return True
    return info.has_audio and (info.audio_codec or "") not in PLAYABLE_AUDIO


def proxy_path(cache_dir: Path, media: Media) -> Path:
    suffix = ".mp4" if media.info.has_video else ".m4a"
    return Path(cache_dir) / PROXY_FOLDER / media.content_hash[:2] / f"{media.content_hash}{suffix}"


def existing_proxy(cache_dir: Path, media: Media) -> Path | None:
    path = proxy_path(cache_dir, media)
    return path if path.is_file() else None


def make_proxy(media: Media, cache_dir: Path) -> Path:
    """The proxy of ``media``, made now unless it exists (same content, same proxy)."""
    dest = proxy_path(cache_dir, media)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f"{dest.stem}.{os.getpid()}.part{dest.suffix}")
    try:
        _transcode(Path(media.path), part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def _transcode(src: Path, dest: Path) -> None:
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        v_in = inp.streams.video[0] if inp.streams.video else None
        a_in = inp.streams.audio[0] if inp.streams.audio else None
        v_out = a_out = resampler = None
        rate = Fraction(25)
        if v_in is not None:
            rate = Fraction(v_in.average_rate or v_in.guessed_rate or 25).limit_denominator(1001)
            v_out = out.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "23"})
            v_out.width = v_in.codec_context.width // 2 * 2  # yuv420p needs even sizes
            v_out.height = v_in.codec_context.height // 2 * 2
            v_out.pix_fmt = "yuv420p"
        if a_in is not None:
            layout = "mono" if a_in.codec_context.channels == 1 else "stereo"
            a_rate = a_in.codec_context.sample_rate or 44_100
            a_out = out.add_stream("aac", rate=a_rate, layout=layout)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=a_rate)
        streams = [s for s in (v_in, a_in) if s is not None]
        last_pts = -1
        for packet in inp.demux(*streams):
            for frame in packet.decode():
                if packet.stream is v_in:
                    pts = round(frame.time * rate) if frame.time is not None else last_pts + 1
                    if pts <= last_pts:  # a duplicate time stamp: the encoder wants them rising
                        continue
                    last_pts = pts
                    picture = frame.reformat(width=v_out.width, height=v_out.height, format="yuv420p")
                    picture.pts, picture.time_base = pts, 1 / rate
                    out.mux(v_out.encode(picture))
                else:
                    for chunk in resampler.resample(frame):
                        chunk.pts = None  # the encoder counts samples itself
                        out.mux(a_out.encode(chunk))
        if v_out is not None:
            out.mux(v_out.encode(None))
        if a_out is not None:
            for chunk in resampler.resample(None):
                chunk.pts = None
                out.mux(a_out.encode(chunk))
            out.mux(a_out.encode(None))

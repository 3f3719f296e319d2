import numpy as np
import pytest

from emostudio.core.timegrid import CHUNKS, FrameRate, SlidingWindow


@pytest.mark.parametrize(
    "duration,hop,n_chunks,last_duration",
    [(1.0, 0.25, 4, 0.25), (1.1, 0.25, 5, 0.1), (0.1, 0.25, 1, 0.1), (10.0, 0.5, 20, 0.5), (0.0, 0.25, 0, None)],
)
def test_chunks_tile_the_media(duration, hop, n_chunks, last_duration):
    chunks = SlidingWindow(step=hop).chunks(duration)
    assert len(chunks) == n_chunks
    if chunks:
        assert chunks[0].start == 0 and chunks[-1].end == pytest.approx(duration)
        assert chunks[-1].duration == pytest.approx(last_duration)
        assert all(b.start == pytest.approx(a.end) for a, b in zip(chunks, chunks[1:]))


@pytest.mark.parametrize(
    "index,expected_windows",
    [
        (0, [(0.0, 0.375), (0.0, 0.625), (0.0, 1.125)]),  # clipped at the start
        (8, [(1.875, 0.5), (1.625, 1.0), (1.125, 1.875)]),  # centred on 2.125; the 2 s window hits the end
        (11, [(2.625, 0.375), (2.375, 0.625), (1.875, 1.125)]),  # clipped at the end (3.0 s)
    ],
)
def test_windows_are_centred_on_the_chunk_and_clipped(index, expected_windows):
    chunk = SlidingWindow(step=0.25, scales=(0.5, 1.0, 2.0)).chunks(3.0)[index]
    assert [(pytest.approx(s), pytest.approx(d)) for s, d in chunk.windows] == expected_windows
    for start, duration in chunk.windows:
        if start > 0 and start + duration < 3.0:
            assert start + duration / 2 == pytest.approx(chunk.center)


@pytest.mark.parametrize(
    "start,duration,rate,n,expected",
    [
        (0.0, 0.5, 100, 300, slice(0, 50)),  # 100 Hz audio frames (log-mel)
        (1.0, 1.0, 100, 300, slice(100, 200)),
        (2.5, 1.0, 100, 300, slice(250, 300)),  # runs past the end: clipped
        (0.0, 1.0, 2, 6, slice(0, 2)),  # 2 fps video: frames centred at 0.25 and 0.75
        (0.6, 0.3, 2, 6, slice(1, 2)),  # narrower than a frame: the frame it lies in
        (1.0, 0.5, 50, 150, slice(50, 75)),  # 50 Hz whisper encoder frames
    ],
)
def test_frame_slices_align_windows_with_any_frame_rate(start, duration, rate, n, expected):
    assert FrameRate(rate).span(start, duration, n) == expected


def test_the_same_window_selects_the_same_time_span_in_every_modality():
    chunk = CHUNKS.chunks(6.0)[10]
    start, duration = chunk.windows[1]
    audio = FrameRate(100).span(start, duration, 600)
    video = FrameRate(2).span(start, duration, 12)
    assert audio.start / 100 == pytest.approx(start, abs=0.01)
    assert abs(video.start / 2 + 0.25 - chunk.center) <= duration / 2 + 0.25


@pytest.mark.parametrize("duration,rate,frames", [(0.6, 100.0, 60), (0.601, 100.0, 61), (0.0, 4.0, 1), (2.0, 2.0, 4)])
def test_a_media_has_one_frame_count_at_each_rate(duration, rate, frames):
    assert FrameRate(rate).count(duration) == frames


def test_many_windows_at_once_agree_with_one_at_a_time():
    chunks = CHUNKS.chunks(7.3)
    for rate, n in ((100.0, 730), (2.0, 15), (4.0, 30)):
        for scale in range(3):
            starts = np.array([c.windows[scale][0] for c in chunks])
            ends = starts + np.array([c.windows[scale][1] for c in chunks])
            first, last = FrameRate(rate).spans(starts, ends, n)
            one = [FrameRate(rate).span(*c.windows[scale], n) for c in chunks]
            assert [slice(int(a), int(b)) for a, b in zip(first, last)] == one


def test_the_chunk_grid_round_trips_through_json():
    grid = SlidingWindow(step=0.5, scales=(1.0, 3.0))
    assert SlidingWindow.from_json(grid.to_json()) == grid and grid.index(1.2) == 2


def test_windows_without_a_face_are_all_zeros_however_long_the_media():
    """Two minutes of face frames with a 40 s stretch without a face: the chunks there
    pool to exact zeros (training reads "all zeros" as "no face"), the others do not."""
    from emostudio.features.base import Features
    from emostudio.model.chunk_inputs import pool_flagged

    rate, seconds = 2.0, 120.0
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random((int(seconds * rate), 7)), np.ones((int(seconds * rate), 1))], 1)
    away = slice(int(40 * rate), int(80 * rate))
    values[away] = 0.0
    chunks = CHUNKS.chunks(seconds)
    pooled, present = pool_flagged(Features("face", "v", rate, values.astype(np.float32)), chunks)
    centres = np.array([c.center for c in chunks])
    inside = (centres > 42) & (centres < 78)  # every window, at every scale, in the stretch
    assert not present[inside].any() and present[~((centres > 40) & (centres < 80))].all()
    assert (pooled[inside] == 0).all() and (np.abs(pooled[present]).sum(1) > 0).all()

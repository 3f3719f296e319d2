"""The README's and the model card's figures, written from the results files (never
typed): ``bench/results/*.json`` and the shipped model's ``config.json`` metrics, which
``emostudio.trainers.defaults`` measures.

    python -m bench.readme     # rewrite each block between its markers

``tests/test_docs.py`` checks that both documents hold exactly what this writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "emostudio" / "model" / "default"


def start(name: str) -> str:
    return f"<!-- bench:{name} (written by `python -m bench.readme` from bench/results/) -->"


def end(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def _figures(name: str) -> dict:
    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


def _model() -> dict:
    """The shipped model's metrics, as ``trainers.defaults`` measured and stored them."""
    return json.loads((MODEL_DIR / "config.json").read_text())["metrics"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def speed() -> str:
    sp = _figures("speed")
    f = sp["figures"]
    ten, video, hour = (
        f["10-min speech, audio model"],
        f["2-min talking face, audio + face"],
        f["1-hour speech, audio model"],
    )
    baseline = f["10-min speech, baseline ComParE functionals"]
    asr, german = f["10-min speech, audio + ASR text"], f["10-min German speech, audio + ASR text"]
    return " ".join(
        [
            f"Measured on 2 CPU cores (`bench/results/speed.json`, {sp['date']}, {sp['commit']}):",
            f"a 10-minute speech file with the audio model runs at {ten['x_real_time']:.0f}x real time",
            f"({ten['peak_rss_mb']:,.0f} MB peak; openSMILE ComParE_2016 functionals alone, in the same run:",
            f"{baseline['x_real_time']:.0f}x), a 2-minute talking-face video with audio + face at",
            f"{video['x_real_time']:.0f}x, and a 1-hour file at {hour['x_real_time']:.0f}x with a",
            f"{hour['peak_rss_mb']:,.0f} MB peak. Speech recognition ({f['asr_model']}), used only when a media",
            "has no transcript and only on its speech, is slower: the same 10 minutes with audio +",
            f"recognised text run at {asr['x_real_time']:.1f}x real time, and 10 minutes of German speech at",
            f"{german['x_real_time']:.1f}x. Give sidecar transcripts or pass `--no-asr` for large batches.",
        ]
    )


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| scenario | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def long_media_and_robustness() -> str:
    lm = _figures("long_media")
    rb = _figures("robustness")
    cases = lm["figures"]["cases"]
    sil = cases["2-hour near-silence, default path (ASR on)"]
    sp = cases["2-hour speech, --no-asr"]
    s20 = cases["20-minute speech, default path (ASR on)"]
    kw, ks, kj, ld = (
        rb["figures"][k] for k in ("kill_worker_mid_job", "kill_server_mid_save", "kill_server_mid_job", "load")
    )
    saves = ld["attempted"] // ld["clients"]
    asr_caveat = (
        f" ({lm['figures']['asr_model']})"
        if "asr_model" in lm["figures"]
        else " (Whisper tiny.en: measured before Whisper base became the default; not measured again yet)"
    )
    rows = [
        (
            "worker killed (SIGKILL) in the middle of an analysis job",
            f"restarted; the job resumed after {kw['resumed_after_s']:.1f} s and finished ({kw['media_analysed']} of "
            f"{kw['media']} media analysed, {kw['media_stuck_analysing']} left `analysing`)",
        ),
        (
            "server killed while 4 clients saved corrections",
            f"{ks['acknowledged_and_stored']:,} of {ks['acknowledged']:,} acknowledged saves stored after the restart "
            f"({ks['lost']} lost)",
        ),
        (
            "server killed while its worker analysed",
            f"{kj['jobs_stuck']} jobs and {kj['media_stuck_analysing']} media left stuck; all done "
            f"{kj['all_done_after_s']:.0f} s after the kill",
        ),
        (
            f"{ld['clients']} signed-in clients x {saves} saves through the JSON API, at once, while the worker analyses",
            f"{ld['stored']:,} / {ld['attempted']:,} stored; p50 {ld['p50_ms']:.1f} ms, p95 {ld['p95_ms']:.1f} ms",
        ),
    ]
    return f"""`bench/long_media.py` runs `emostudio analyze` as a user would (fresh process, cold
caches, default path) and writes `bench/results/long_media.json` ({lm["date"]}, {lm["commit"]});
goal: under 2 GB for any length. A 2-hour near-silent file takes {sil["seconds"]:.0f} s and
{sil["peak_rss_mb"]:,} MB at its peak (speech recognition finds nothing to hear), 2 hours of speech
with `--no-asr` {sp["seconds"]:.0f} s and {sp["peak_rss_mb"]:,} MB, and 20 minutes of speech with speech
recognition {s20["seconds"]:.0f} s and {s20["peak_rss_mb"]:,} MB{asr_caveat}.

`bench/robustness.py` runs `emostudio serve` in its own process and measures it from
outside (`bench/results/robustness.json`, {rb["date"]}, {rb["commit"]}):

{_table(rows)}"""


def gpu() -> str:
    g = _figures("gpu_check")
    f = g["figures"]
    return f"""Checked on a lent {f["gpu"]} (`python -m bench.gpu_check`, `bench/results/gpu_check.json`, {g["date"]}):
with `device = "auto"` the models land on `{f["chunk_model_on"]}`; the shipped chunk model's outputs
there differ from the CPU's by at most {f["chunk_model_max_abs_diff"]:.1e} (log-probability) and the face
model's by {f["face_model_max_abs_diff"]:.1e}; a 3-epoch training run on 512 synthetic clips took
{f["train_seconds_setting"]:.1f} s on the GPU against {f["train_seconds_cpu"]:.1f} s on that machine's 16 CPU cores, and
handed back a CPU model either way."""


def accuracy() -> str:
    acc = _figures("accuracy")
    sp, face, m = acc["figures"]["speech"], acc["figures"]["face_fer2013_private_test"], _model()
    emodb, ravdess = sp["emodb"], sp["ravdess"]
    return f"""Accuracy of the default model's recipe ({acc["figures"]["epochs"]} epochs per fold), speaker-independent
(`python -m bench.accuracy`, `bench/results/accuracy.json`, {acc["date"]}, {acc["commit"]}): UAR **{emodb["project"]["uar"]:.3f}** on
EmoDB (leave-one-speaker-out, {emodb["classes"]} classes) and **{ravdess["project"]["uar"]:.3f}** on RAVDESS speech
(actor-independent {ravdess["folds"]}-fold, {ravdess["classes"]} classes), against {emodb["baseline"]["uar"]:.3f} and
{ravdess["baseline"]["uar"]:.3f} for openSMILE ComParE_2016 + linear SVM on the same folds
({emodb["baseline_speaker_normalised"]["uar"]:.3f} and {ravdess["baseline_speaker_normalised"]["uar"]:.3f} with per-speaker feature normalisation). The face
model scores UAR {face["uar"]:.3f} ({_pct(face["wa"])} accuracy) on the {face["faces"]:,} FER2013
private-test faces, and the text head UAR {m["meld_test_text_uar"]:.3f} on MELD test (from the model's
`config.json`, measured by `make defaults`)."""


def ui() -> str:
    u = _figures("ui")
    f = u["figures"]
    p = f["paths"]
    open_, base = p["open a 10-min clip (stored predictions)"], p["analyse on open (features cached)"]
    save, redraw = p["save a correction (append)"], p["save and redraw (Annotate callback)"]
    return f"""`bench/ui.py` times the server side of the studio's hot paths on the same 10-minute
recording ({f["chunks"]:,} chunks, {f["segments"]} speech segments), median of {f["repeat"]} calls in a warm
process (`bench/results/ui.json`, {u["date"]}, {u["commit"]}): opening the clip on the Inspect page
takes {open_["median_ms"]:,.0f} ms (p90 {open_["p90_ms"]:,.0f} ms; goal {open_["goal_ms"]:,.0f} ms) against
{base["median_ms"]:,.0f} ms for analysing it on open from cached features, and saving a correction takes
{save["median_ms"]:.1f} ms (goal {save["goal_ms"]:,.0f} ms), {redraw["median_ms"]:,.0f} ms with the timeline redrawn
around it."""


def card_training() -> str:
    m = _model()
    sel, pv, w, f = m["selection"], m["provenance"], m["fusion_weights"], m["fusion_dev"]
    audio_search = ", ".join(f"{e}: {u:.3f}" for e, u in sel["audio_dev_uar_by_epochs"].items())
    text_search = "; ".join(
        f"{name}: " + ", ".join(f"{e} epochs {u:.3f}" for e, u in by_epochs.items())
        for name, by_epochs in sel["text_dev_uar_by_encoder_and_epochs"].items()
    )
    return f"""Measured by `{pv["command"]}` ({pv["date"]}, {pv["commit"]}, {pv["machine"]}) and
stored in `config.json` (`metrics`). Nothing below is chosen on a test set.

- **Audio epochs**: {m["audio_epochs"]}, the best development UAR among {audio_search}
  (trained on the other speakers, scored on {sel["development_clips"]} clips of the development
  speakers {", ".join(sel["development_speakers"])}); the shipped weights then train on all
  {m["training_clips"]:,} clips.
- **Text encoder and epochs**: {m["text_encoder"]}, {m["text_epochs"]} epochs: the best MELD dev UAR
  among {text_search} (a tie goes to the multilingual encoder).
- **Fusion**: a linear pool (a mixture of each modality's probabilities, so no modality
  can veto another), each modality weighed by its share times its reliability in the
  chunk (how much of the window had a face, or a trusted transcript). The shares are
  fitted on {f["pairs"]:,} paired development examples (an audio clip of a development speaker,
  a MELD dev utterance and a talking-face clip with the same emotion, each modality left
  out at random; `emostudio.trainers.fusion`): audio {w["audio"]:.3f}, face {w["face"]:.3f}, text {w["text"]:.3f}.
  Where audio and another modality are both present ({f["audio_and_another"]["pairs"]:,} pairs) the
  mixture's UAR is {f["audio_and_another"]["mixture"]:.3f} against {f["audio_and_another"]["audio_alone"]:.3f} for the audio alone; with all
  three ({f["all_three"]["pairs"]:,} pairs), {f["all_three"]["mixture"]:.3f} against {f["all_three"]["audio_alone"]:.3f}. The weighted product it
  replaced, with the weights it had (development UAR above chance), scores
  {f["audio_and_another"]["product"]:.3f} and {f["all_three"]["product"]:.3f} on the same pairs: pairs drawn independently, as these
  are, are where a product of experts is at its best, and it is exactly the fusion
  that let one modality near zero erase an emotion the others agreed on.
  Development UARs: audio {m["audio_dev_uar"]:.3f} (development speakers), face {m["face_dev_uar"]:.3f}
  ({sel["face_dev_clips"]} CREMA-D and MEAD talking-face clips with a face found), text {m["text_dev_uar"]:.3f}
  (MELD dev)."""


def card_evaluation() -> str:
    acc = _figures("accuracy")
    sp, face, m = acc["figures"]["speech"], acc["figures"]["face_fer2013_private_test"], _model()
    names = {"emodb": "EmoDB", "ravdess": "RAVDESS speech"}
    folds = {"emodb": "leave-one-speaker-out", "ravdess": "actor-independent"}
    rows = []
    for corpus, f in sp.items():
        rows.append(
            f"| {names[corpus]} ({f['classes']} classes) | {folds[corpus]} ({f['folds']}) | this model's recipe "
            f"| {f['project']['uar']:.3f} | {f['project']['wa']:.3f} |"
        )
        rows.append(
            f"| | | openSMILE ComParE_2016 + linear SVM | {f['baseline']['uar']:.3f} | {f['baseline']['wa']:.3f} |"
        )
        sn = f["baseline_speaker_normalised"]
        rows.append(f"| | | the same, per-speaker normalised | {sn['uar']:.3f} | {sn['wa']:.3f} |")
    table = "\n".join(["| corpus | folds | system | UAR | WA |", "|---|---|---|---|---|", *rows])
    valence = "\n".join(
        f"- {names[corpus]}: " + ", ".join(f"{c} {v:+.2f}" for c, v in f["project"]["mean_valence"].items())
        for corpus, f in sp.items()
    )
    return f"""Speaker-independent, each corpus's own classes, same folds for both systems
(`{acc["command"]}`, `bench/results/accuracy.json`, {acc["date"]}, {acc["commit"]}, {acc["machine"]}):

{table}

The recipe trains each fold for a fixed {acc["figures"]["epochs"]} epochs; the baseline's SVM C is chosen
per fold by a speaker-grouped 3-fold cross-validation on that fold's training speakers;
"per-speaker normalised" z-scores each speaker's features by their own statistics (the
test speaker's too, without labels).

Mean clip valence per true class on the test folds (the recipe's A/V/D follow the
classes it predicts; goal: happiness above 0, anger, sadness, fear and disgust below):

{valence}

Other modalities:

- text head, MELD test ({m["selection"]["meld_sizes"]["test"]:,} utterances, 7 classes; `config.json`):
  UAR {m["meld_test_text_uar"]:.3f}, WA {m["meld_test_text_wa"]:.3f} (always the majority class: WA
  {m["meld_test_majority_wa"]:.3f}, UAR {1 / 7:.3f});
- face model, FER2013 private test ({face["faces"]:,} faces): {_pct(face["wa"])} accuracy, UAR {face["uar"]:.3f}."""


def generalisation() -> str:
    g = _figures("generalisation")
    names = {"as_trained": "chunk model", "test_corpus_normalised": "chunk model, test corpus normalised"}
    rows = []
    for direction, d in g["figures"]["directions"].items():
        arrow = direction.replace("->", " → ").replace("ravdess", "RAVDESS").replace("emodb", "EmoDB")
        for variant, p in d["project"].items():
            c, v = p["curves"], p["mean_valence"]
            delay = "—" if c["median_switch_delay_s"] is None else f"{c['median_switch_delay_s']:.2f} s"
            rows.append(
                f"| {arrow} | {names[variant]} | {p['uar']:.3f} | {p['collapse']:.2f} | {p['ece']:.3f} "
                f"| {c['chunk_accuracy']:.2f} ({c['chunk_accuracy_clips_alone']:.2f}) | {100 * c['switch_share']:.0f}% "
                f"| {delay} | {v['happiness']:+.2f} / {v['neutral']:+.2f} / {v['anger']:+.2f} / {v['sadness']:+.2f} |"
            )
        for variant, b in d["baseline"].items():
            label = "per-corpus normalised" if variant == "per_corpus_normalised" else "scaler from the training corpus"
            rows.append(
                f"| {arrow} | ComParE_2016 + SVM, {label} | {b['uar']:.3f} | {b['collapse']:.2f} | — | — | — | — | — |"
            )
    header = [
        "| train → test | system | UAR | collapse | ECE | chunk accuracy (clips alone) | switches ≤ 1 s "
        "| median delay | valence happy / neutral / angry / sad |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    table = "\n".join([*header, *rows])
    return f"""On speech of a corpus it never trained on (`{g["command"]}`, `bench/results/generalisation.json`,
{g["date"]}, {g["commit"]}), on the {len(g["figures"]["classes"])} classes both corpora share; goals from issue 11:
UAR ≥ the per-corpus normalised baseline + 0.10, collapse (largest predicted share of a class over its
true share) ≤ 1.5, ECE ≤ 0.08, chunk accuracy in one-speaker sequences ≥ the same clips alone, ≥ 70% of
boundaries switched within 1 s, median delay ≤ 0.5 s, valence happy > 0 > angry, sad.

{table}"""


def _maybe(name: str) -> dict | None:
    path = ROOT / "bench" / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _source(r: dict, name: str) -> str:
    return f"`{r['command']}`, `bench/results/{name}.json`, {r['date']}, {r['commit']}"


def av_alignment() -> str:
    """What aligning voice and face did to the fused predictions on the seven real clips."""
    av = _maybe("av_alignment")
    if av is None:
        return "Audio-visual alignment: not measured yet (`python -m bench.av_alignment`)."
    f = av["figures"]
    rows = ["| model | fused UAR | fused accuracy | face UAR | audio UAR | face's own voice: mean rank of 7 |"]
    rows.append("|---|---|---|---|---|---|")
    ranks = {"shipped": f["alignment"]["shipped_start"], "aligned": f["alignment"]["aligned"]}
    for name in ("shipped", "aligned"):
        m = f[name]
        rank = f"{ranks[name]['voice_rank_of_face']:.2f}"
        rows.append(
            f"| {name} | {m['fused_uar']:.3f} | {m['fused_accuracy']:.3f} | {m['face_uar']:.3f} "
            f"| {m['audio_uar']:.3f} | {rank} |"
        )
    loo = f["leave_one_clip_out"]
    changed = sum(c["shipped"] != c["aligned"] for c in f["clips"])
    dev = "; ".join(f"{k}: {v:.3f}" for k, v in f["development_face_uar"].items())
    return (
        f"Audio-visual alignment ({_source(av, 'av_alignment')}): the shipped model and the model aligned on "
        f"{f['generated_pairs']['train']} generated pairs (MEAD talking-face crops with RAVDESS voices of the same "
        f"emotion), on the {f['test_clips']} real clips with a voice and a face (six CREMA-D, one MEAD); every "
        f"figure moves by 1/{f['test_clips']} with one clip. Epochs and learning rate were chosen on a development "
        f"speaker's faces (face UAR: {dev}): {f['chosen']['epochs']} epochs at {f['chosen']['lr']:g}"
        + (
            ""
            if f.get("development_beats_shipped")
            else " (no setting beat the shipped model there; a tie goes to the least training)"
        )
        + f". The aligned "
        f"model's fused prediction differs from the shipped one's on {changed} of {f['test_clips']} clips; left "
        f"out one at a time with the other six as labels too, fused UAR {loo['fused_uar']:.3f}. The rank of a "
        f"face's own voice is measured for the shipped model with the alignment's new, untrained modules; a "
        f"random face lands at {(f['test_clips'] + 1) / 2:g}.\n\n" + "\n".join(rows)
    )


def _queue_choice(f: dict) -> str:
    """Which queue order the development direction chose, and whether the studio offers it first."""
    dev = f.get("development")
    if not dev:
        return ""
    means = "; ".join(f"{name} {sum(by_n.values()) / len(by_n):.3f}" for name, by_n in dev["uar"].items())
    offered = (
        "the order the Annotate page offers first"
        if f.get("studio_default")
        else ("**not** yet the order the Annotate page offers first")
    )
    return (
        f" The order was chosen on the other direction (a RAVDESS model meeting EmoDB; mean UAR over the budgets: "
        f"{means}): **{f['chosen']}**, {offered}."
    )


def training() -> str:
    """Self-training, active learning and fine-tuning time, each from its results file
    (or said to be missing)."""
    parts = []
    st = _maybe("selftraining")
    if st is None:
        parts.append("Self-training: not measured yet (`python -m bench.selftraining`).")
    else:
        f = st["figures"]
        rows = [
            "| setting | supervised | self-training | gain | goal | input re-standardisation alone |",
            "|---|---|---|---|---|---|",
        ]
        few = f["few_labels"]
        rows.append(
            f"| EmoDB, {_pct(few['share_labelled'])} of labels, {len(few['folds'])} speaker folds "
            f"| {few['supervised_uar']:.3f} | {few['self_training_uar']:.3f} "
            f"| {few['self_training_uar'] - few['supervised_uar']:+.3f} | +0.030 | — |"
        )
        for direction, a in f["adaptation"].items():
            arrow = direction.replace("->", " → ").replace("ravdess", "RAVDESS").replace("emodb", "EmoDB")
            rows.append(
                f"| {arrow}, target unlabelled | {a['supervised_uar']:.3f} | {a['self_training_uar']:.3f} "
                f"| {a['self_training_uar'] - a['supervised_uar']:+.3f} | +0.050 | {a['normalisation_only_uar']:.3f} |"
            )
        dev = ", ".join(
            f"{name} {d['self_training_uar'] - d['supervised_uar']:+.3f}"
            for name, d in f.get("development", {}).items()
        )
        defaults = "the job's defaults" if f.get("job_defaults_are_chosen") else "**not** the job's defaults"
        parts.append(
            f"Self-training against supervised training alone (UAR; {_source(st, 'selftraining')}). The schedule "
            f"was chosen on a development setting apart from these figures (RAVDESS, 10% of labels, three folds of "
            f"eight held-out actors; UAR gain: {dev}): **{f.get('chosen', 'the job defaults')}**, {defaults}.\n\n"
            + "\n".join(rows)
        )
    al = _maybe("active_learning")
    if al is None:
        parts.append("Active learning: not measured yet (`python -m bench.active_learning`).")
    else:
        f = al["figures"]
        budgets = f["budgets"]
        rows = ["| picked by | " + " | ".join(f"N={n}" for n in budgets) + " |", "|---|" + "---|" * len(budgets)]
        for name, by_n in f["uar"].items():
            rows.append(f"| {name} | " + " | ".join(f"{by_n[str(n)]:.3f}" for n in budgets) + " |")
        reach = ", ".join(
            f"{k} at N={v}" if v else f"{k} not within N={budgets[-1]}"
            for k, v in f["queue_reaches_random_at_200_with"].items()
        )
        parts.append(
            f"Which clips to label first ({_source(al, 'active_learning')}): an EmoDB model (UAR {f['base_uar']:.3f} "
            f"on the held-out RAVDESS actors) fine-tuned on N RAVDESS clips picked by the uncertainty queue or at "
            f"random (mean of three draws); UAR on the held-out actors. Random's N={budgets[-1]} UAR is reached "
            f"by: {reach} (goal: N ≤ {budgets[-1] // 2}).{_queue_choice(f)}\n\n" + "\n".join(rows)
        )
    rk = _maybe("rankers")
    if rk is None:
        parts.append("Rankers: not measured yet (`python -m bench.rankers`).")
    else:
        f = rk["figures"]
        rows = [
            "| chunk model trained on | chunk accuracy | switches ≤ 1 s | CCC arousal | CCC valence |",
            "|---|---|---|---|---|",
        ]
        for name, m in f["systems"].items():
            rows.append(
                f"| {name} | {m['chunk_accuracy']:.3f} | {100 * m['switch_share']:.0f}% "
                f"| {m['ccc_arousal']:.3f} | {m['ccc_valence']:.3f} |"
            )
        parts.append(
            f"Chunk rankers ({_source(rk, 'rankers')}): the chunk model trained on RAVDESS with and without the "
            "rankers' target curves, on sequences of six EmoDB clips of six emotions by one speaker; CCC of the "
            "chunk curves against each clip's class prototype (no corpus here has continuous human traces).\n\n"
            + "\n".join(rows)
        )
    parts.append(av_alignment())
    sp = _maybe("training_speed")
    if sp is None:
        parts.append("Fine-tuning time: not measured yet (`python -m bench.training_speed`).")
    else:
        f = sp["figures"]
        parts.append(
            f"Fine-tuning the shipped model on {f['clips']} labelled RAVDESS clips with cached features, queued "
            f"as the Train page queues it, on {f['cpu_cores']} CPU cores ({_source(sp, 'training_speed')}): first "
            f"progress line after {f['seconds_to_first_progress']:.1f} s (goal < 5 s), registered version after "
            f"{f['seconds_to_registered_version']:.1f} s (goal < 60 s), {f['steps']:g} steps. (The shipped model "
            "trained on RAVDESS already, so its held-out figures there say nothing about accuracy.)"
        )
    return "\n\n".join(parts)


def _goal(met: bool) -> str:
    return "met" if met else "**not met**"


def captions() -> str:
    cp = _maybe("captions")
    if cp is None:
        return "Captions: not measured yet (`python -m bench.captions`)."
    f = cp["figures"]
    c, fa, v, sp = f["consistency"], f["faithfulness"], f["variety"], f["speed_ms"]
    dev = json.loads((MODEL_DIR / "captioner.json").read_text())["metrics"]
    rows = [
        "| figure | measured | goal | |",
        "|---|---|---|---|",
        f"| caption read back as the predicted emotion | {_pct(c['agrees_with_prediction'])} "
        f"({_pct(c['agrees_with_prediction_class_names'])} with bare class names) | ≥ 95% | "
        f"{_goal(c['agrees_with_prediction'] >= c['goal_agreement'])} |",
        f"| caption read back vs the corpus label, beside the classifier | {_pct(c['caption_accuracy'])} vs "
        f"{_pct(c['classifier_accuracy'])} ({c['gap_points']:.1f} points) | within 2 points | "
        f"{_goal(abs(c['gap_points']) <= c['goal_gap_points'])} |",
        f"| stated voice levels that match the measure | {fa['matching']} of {fa['captions_stating_a_level']} | "
        f"100% | {_goal(fa['matching'] == fa['captions_stating_a_level'])} |",
        f"| distinct-2 over the clip captions | {v['distinct_2']:.3f} | ≥ 0.5 | "
        f"{_goal(v['distinct_2'] >= v['goal_distinct_2'])} |",
        f"| the same sentence for two clips in a row | {v['identical_in_a_row']} | 0 | "
        f"{_goal(v['identical_in_a_row'] == 0)} |",
        f"| captioning time per clip after analysis | {sp['mean']:.1f} ms mean, {sp['median']:.1f} median, "
        f"{sp['p95']:.1f} p95 | < 50 ms | {_goal(sp['mean'] < sp['goal'])} |",
    ]
    examples = "\n".join(f"> {e}  " for e in f["examples"][:4])
    return (
        f"Captions of {f['clips']} clips ({f['corpora']['emodb']} EmoDB, {f['corpora']['ravdess']} RAVDESS; "
        f"speakers outside the captioner's development speakers) analysed as the studio analyses them "
        f"({_source(cp, 'captions')}; {f['captions']} captions, clip and segment). The shipped classifier "
        "trained on every speaker of both corpora, so its accuracy here is not a generalisation figure: the "
        "point is how closely the captions follow it. On the development speakers, the projection's zero-shot "
        f"UAR was {max(dev['projection_dev_zero_shot_uar'].values()):.3f} "
        f"({dev['projection_steps']} steps, chosen there).\n\n"
        + "\n".join(rows)
        + "\n\nFirst captions of the run:\n\n"
        + examples
    )


def scale() -> str:
    """An hour of speech and a 10,000-clip library (``bench.scale``)."""
    sc = _maybe("scale")
    parts = sc["figures"] if sc is not None else {}
    if not all(p in parts and "run" in parts[p] for p in ("hour", "library")):
        return "Hour-long media and large libraries: not measured yet (`python -m bench.scale`)."
    h, lib = sc["figures"]["hour"], sc["figures"]["library"]
    a, st, sv, br = h["analysis_no_asr"], h["storage"], h["server"], h["browser"]
    ms = lib["goal_ms"]

    def t(x: dict) -> str:
        return f"{x['median_s'] * 1000:.0f} ms (p90 {x['p90_s'] * 1000:.0f})"

    rows = [
        "| figure | measured | goal | |",
        "|---|---|---|---|",
        f"| 1 hour of speech: `analyze --no-asr` time, peak RSS | {a['seconds']:.0f} s, {a['peak_rss_mb']:,} MB | "
        f"< {h['goals']['peak_rss_mb']:,} MB | {_goal(h['met']['peak_rss'])} |",
        f"| its chunk outputs on disk ({st['chunks']:,} chunks) | {st['chunk_file_bytes'] / 1e6:.1f} MB file, "
        f"{st['prediction_rows']} rows (clip and segments) | | |",
        f"| open it on the Inspect page, server | {t(sv['open_inspect'])} | < 500 ms | "
        f"{_goal(sv['open_inspect']['median_s'] < 0.5)} |",
        f"| zoom to a 30 s window, server | {t(sv['zoom_to_30s'])} | < 500 ms | "
        f"{_goal(sv['zoom_to_30s']['median_s'] < 0.5)} |",
    ]
    if br:
        rows += [
            f"| open it, in Chromium (pointer down to figures drawn, timed in the page; after another media) | "
            f"{t(br['open_inspect'])} | "
            f"< 500 ms | {_goal(br['open_inspect']['median_s'] < 0.5)} |",
            f"| the same, the first open after the page loaded | "
            f"{br['first_open_of_a_fresh_page_s'] * 1000:.0f} ms | | |",
            f"| zoom to 30 s, in Chromium | {t(br['zoom_to_30s'])} | < 500 ms | "
            f"{_goal(br['zoom_to_30s']['median_s'] < 0.5)} |",
        ]
    q = lib["queries"]
    rows += [
        f"| {lib['clips']:,} clips: import with voice activity detection | {lib['import']['clips_per_second']:.0f} "
        f"clips/s | | |",
        f"| a library page / one deep in it, sorted by name | {t(q['library_page'])} / "
        f"{t(q['library_page_deep_sorted_by_name'])} | < {ms} ms | "
        f"{_goal(max(q['library_page']['median_s'], q['library_page_deep_sorted_by_name']['median_s']) * 1000 < ms)} |",
        f"| a filter (top emotion, not annotated) / by name | {t(q['filter_top_emotion_not_annotated'])} / "
        f"{t(q['filter_name'])} | < {ms} ms | "
        f"{_goal(max(q['filter_top_emotion_not_annotated']['median_s'], q['filter_name']['median_s']) * 1000 < ms)} |",
        f"| next most uncertain (and the queue's length) / balanced | {t(q['next_most_uncertain'])} / "
        f"{t(q['next_most_uncertain_balanced'])} | < {ms} ms | "
        f"{_goal(max(q['next_most_uncertain']['median_s'], q['next_most_uncertain_balanced']['median_s']) * 1000 < ms)} |",
        f"| export of every chunk prediction | {lib['export_chunks']['rows']:,} rows, "
        f"{lib['export_chunks']['rows_per_second']:,} rows/s | | |",
        f"| database / chunk files | {lib['sizes']['database_bytes'] / 1e6:.0f} MB / "
        f"{lib['sizes']['chunk_files_bytes'] / 1e6:.0f} MB | | |",
    ]
    return (
        f"An hour of speech (RAVDESS + EmoDB back to back; {_source(h['run'], 'scale')}) and a library of "
        f"{lib['clips']:,} 2 s excerpts of them analysed by a tiny untrained model "
        f"({_source(lib['run'], 'scale')}). Medians of repeated calls in one warm process; in the browser, of "
        "opens alternating with another media in one page.\n\n" + "\n".join(rows)
    )


README = ROOT / "README.md"
MODEL_CARD = MODEL_DIR / "MODEL_CARD.md"
BLOCKS = {
    (README, "speed"): speed,
    (README, "long_media+robustness"): long_media_and_robustness,
    (README, "gpu"): gpu,
    (README, "accuracy"): accuracy,
    (README, "ui"): ui,
    (README, "generalisation"): generalisation,
    (README, "training"): training,
    (README, "captions"): captions,
    (README, "scale"): scale,
    (MODEL_CARD, "training"): card_training,
    (MODEL_CARD, "evaluation"): card_evaluation,
    (MODEL_CARD, "generalisation"): generalisation,
}


def block(doc: Path, name: str) -> str:
    return f"{start(name)}\n{BLOCKS[doc, name]()}\n{end(name)}"


def current(readme: str, name: str) -> str | None:
    match = re.search(re.escape(start(name)) + r".*?" + re.escape(end(name)), readme, flags=re.S)
    return match.group(0) if match else None


def main() -> None:
    for doc in dict.fromkeys(d for d, _ in BLOCKS):
        text = doc.read_text()
        for d, name in BLOCKS:
            if d != doc:
                continue
            old = current(text, name)
            if old is None:
                raise SystemExit(f"{doc.name} has no {start(name)!r} ... {end(name)!r} block")
            text = text.replace(old, block(doc, name))
        doc.write_text(text)
        print(f"{doc.relative_to(ROOT)}: figures rewritten from the results files")


if __name__ == "__main__":
    main()

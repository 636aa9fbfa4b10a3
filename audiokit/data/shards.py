"""Dump stage: a Kaldi-style data dir -> WebDataset tar shards plus a ``shards.json`` index.

Each sample in a shard is two tar members with the same key: the audio (``.flac`` or
``.wav``, 16-bit PCM) and ``.json`` metadata: ``id``, ``duration``, ``sample_rate`` and,
when the data dir has them, ``text``, ``labels`` (utt2label) and ``speaker`` (utt2spk).
Keys are sample numbers (``00000042``), not utterance ids: WebDataset splits keys at the
first dot, and utterance ids may contain dots.

``shards.json`` lists every shard with its sample count, total duration and the duration of
each sample in tar order. The streaming reader (:mod:`audiokit.data.streaming`) plans its
epochs from it without opening a tar: epoch length, the split over ranks and workers, and
the duration buckets.
"""

from __future__ import annotations

import io
import json
import logging
import random
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf
import webdataset as wds

from audiokit.data.audio import AudioError, audio_info, load_audio
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.validate import Problem, screen_bad_audio, write_report

log = logging.getLogger(__name__)

INDEX = "shards.json"
SHARD_PATTERN = "shard-%06d.tar"
AUDIO_FORMATS = {"flac": "FLAC", "wav": "WAV"}


def _native_rate(source: str, utt: str) -> int:
    if source.endswith("|"):
        raise DataDirError(f"utterance '{utt}' ({source}): a piped wav.scp entry has no header "
                           "to read the sample rate from; pass sample_rate (--sample-rate)")
    return audio_info(source, utt).samplerate


def encode_audio(wav: np.ndarray, sample_rate: int, audio_format: str) -> bytes:
    """16-bit PCM flac/wav bytes. Clipped to [-1, 1] first: libsndfile would wrap around."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(wav, -1.0, 1.0), sample_rate, format=AUDIO_FORMATS[audio_format],
             subtype="PCM_16")
    return buf.getvalue()


def write_shards(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    max_shard_mb: float = 100.0,
    max_per_shard: int | None = None,
    audio_format: str = "flac",
    sample_rate: int | None = None,
    on_bad_audio: str = "error",
    downmix: bool = False,
    shuffle_seed: int | None = 0,
) -> dict:
    """Write ``out_dir/shard-NNNNNN.tar`` and ``out_dir/shards.json``; return the index.

    A shard closes once it reaches ``max_shard_mb`` megabytes or ``max_per_shard`` samples.
    ``sample_rate=None`` keeps each file's own rate (the reader resamples); otherwise audio
    is resampled here once. Utterances are written in a shuffled order (``shuffle_seed``;
    None keeps the data dir's order): data dirs are sorted by id, which often groups a
    speaker or a class, and the reader's shuffle buffer only mixes neighbouring samples.

    Bad audio is screened as for training from a data dir: ``on_bad_audio="error"`` stops
    naming the utterances and files, ``"skip"`` leaves them out, warns, and lists them in
    ``out_dir/bad_audio.txt`` and under ``"skipped"`` in the index.
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format must be one of {sorted(AUDIO_FORMATS)}, got {audio_format!r}")
    if max_shard_mb <= 0 or (max_per_shard is not None and max_per_shard < 1):
        raise ValueError(f"bad shard size limits: max_shard_mb={max_shard_mb}, "
                         f"max_per_shard={max_per_shard}")
    d = DataDir.load(data_dir)
    skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix,
                               skip_hint="on_bad_audio=skip (--on-bad-audio skip)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard-*.tar"):  # a previous dump's shards would linger unlisted
        old.unlink()
    (out / INDEX).unlink(missing_ok=True)  # no index until the shards are complete

    utts = [u for u in d.utt_ids if u not in skipped]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(utts)
    shards: dict[str, dict] = {}
    rates: set[int] = set()
    written = 0
    writer = wds.ShardWriter(str(out / SHARD_PATTERN), maxcount=max_per_shard or 10**12,
                             maxsize=max_shard_mb * 1e6, verbose=0)
    try:
        for utt in utts:
            source, start, end = d.audio_source(utt)
            try:
                rate = sample_rate or _native_rate(source, utt)
                wav = load_audio(source, rate, utt=utt, start=start, end=end, downmix=downmix)
            except AudioError as e:  # the header screen passed, but the full decode did not
                if on_bad_audio == "error":
                    raise DataDirError(f"{data_dir}: {e} "
                                       "(set on_bad_audio=skip to leave it out)") from None
                log.warning("%s: skipping: %s", data_dir, e)
                skipped[utt] = str(e).split(": ", 1)[-1]
                continue
            duration = round(len(wav) / rate, 4)
            meta = {"id": utt, "duration": duration, "sample_rate": rate}
            if d.text is not None:
                meta["text"] = d.text[utt]
            if d.utt2label is not None:
                meta["labels"] = d.utt2label[utt]
            if d.utt2spk is not None:
                meta["speaker"] = d.utt2spk[utt]
            writer.write({"__key__": f"{written:08d}",
                          audio_format: encode_audio(wav.numpy(), rate, audio_format),
                          "json": json.dumps(meta, ensure_ascii=False).encode("utf-8")})
            shard = shards.setdefault(Path(writer.fname).name, {"count": 0, "durations": []})
            shard["count"] += 1
            shard["durations"].append(duration)
            rates.add(rate)
            written += 1
    finally:
        writer.close()
    if not shards:
        raise DataDirError(f"{data_dir}: no utterances left to write")
    if skipped:
        write_report([Problem(u, d.audio_source(u)[0], why) for u, why in skipped.items()],
                     out / "bad_audio.txt")
    labels = sorted({x for ls in d.utt2label.values() for x in ls}) if d.utt2label else None
    fields = [name for name, present in (("text", d.text), ("labels", d.utt2label),
                                         ("speaker", d.utt2spk)) if present is not None]
    index = {
        "source": str(Path(data_dir).resolve()),
        "audio_format": audio_format,
        "sample_rate": rates.pop() if len(rates) == 1 else None,  # None: mixed rates
        "fields": fields,
        "labels": labels,
        "num_samples": sum(s["count"] for s in shards.values()),
        "duration": round(sum(sum(s["durations"]) for s in shards.values()), 3),
        "skipped": skipped,
        "shards": [{"path": name, "count": s["count"], "duration": round(sum(s["durations"]), 3),
                    "durations": s["durations"]} for name, s in shards.items()],
    }
    tmp = out / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out / INDEX)  # written last: its presence means the dump finished
    return index


def looks_complete(path: str | Path) -> str | None:
    """Why a shard is surely not a whole tar file, from its size and last bytes only (a tar
    ends in zero blocks, and a copy cut short does not), or None. O(1): run on every load;
    :func:`check_shard` reads every header."""
    path = Path(path)
    if not path.is_file():
        return "no such file"
    size = path.stat().st_size
    if size < 1024 or size % 512:
        return f"truncated ({size} bytes, not whole 512-byte tar blocks)"
    with open(path, "rb") as f:
        f.seek(size - 1024)
        if f.read(1024).strip(b"\0"):
            return "truncated (no end-of-archive blocks)"
    return None


def read_index(path: str | Path, check: bool = True) -> dict:
    """Load ``shards.json`` (``path`` is the file or its folder); shard paths become absolute.
    With ``check``, a shard that is missing or cut short (:func:`looks_complete`) is an error
    naming every such shard, before anything streams."""
    path = Path(path)
    if path.is_dir():
        path = path / INDEX
    if not path.is_file():
        raise DataDirError(f"{path}: no shard index (write one with `audiokit-prep shards`)")
    index = json.loads(path.read_text(encoding="utf-8"))
    for shard in index["shards"]:
        shard["path"] = str(path.parent / shard["path"])
        if len(shard["durations"]) != shard["count"]:
            raise DataDirError(f"{path}: shard {shard['path']}: {shard['count']} samples but "
                               f"{len(shard['durations'])} durations")
    bad = {s["path"]: why for s in index["shards"] if check and (why := looks_complete(s["path"]))}
    if bad:
        listing = "; ".join(f"{p}: {why}" for p, why in list(bad.items())[:5])
        raise DataDirError(f"{path}: {len(bad)} corrupt shard(s): {listing} (`audiokit-prep "
                           f"validate-shards {path.parent} --on-bad-shard skip` leaves them out)")
    return index


def check_shard(path: str | Path, count: int) -> str | None:
    """Why a shard cannot be streamed (unreadable tar, truncated member, fewer samples than
    its index lists), or None. Reads the tar headers only."""
    path = Path(path)
    if not path.is_file():
        return "no such file"
    size = path.stat().st_size
    keys: set[str] = set()
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.offset_data + member.size > size:
                    return f"truncated in member {member.name}"
                keys.add(member.name.split(".", 1)[0])
    except (tarfile.TarError, OSError) as e:
        return f"not a readable tar file: {e}"
    if len(keys) != count:
        return f"holds {len(keys)} samples, its shards.json lists {count}"
    return None


def check_shards(path: str | Path) -> dict[str, str]:
    """{shard path: reason} of every shard of an index that cannot be streamed."""
    index = read_index(path, check=False)
    found = {s["path"]: check_shard(s["path"], s["count"]) for s in index["shards"]}
    return {p: why for p, why in found.items() if why is not None}


def drop_shards(path: str | Path, bad: dict[str, str]) -> dict:
    """Rewrite the index at ``path`` without the ``bad`` shards (listed, with their sample
    counts, under "skipped_shards"); returns the new index."""
    file = Path(path) / INDEX if Path(path).is_dir() else Path(path)
    index = json.loads(file.read_text(encoding="utf-8"))
    kept, dropped = [], index.setdefault("skipped_shards", {})
    for shard in index["shards"]:
        full = str(file.parent / shard["path"])
        if full in bad:
            dropped[shard["path"]] = f"{bad[full]} ({shard['count']} samples)"
        else:
            kept.append(shard)
    if not kept:
        raise DataDirError(f"{file}: every shard is unreadable")
    index["shards"] = kept
    index["num_samples"] = sum(s["count"] for s in kept)
    index["duration"] = round(sum(s["duration"] for s in kept), 3)
    tmp = file.with_name(INDEX + ".tmp")
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(file)
    return index

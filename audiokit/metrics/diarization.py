"""Diarization error rate (DER) of RTTM turns, computed by pyannote.metrics.

DER = (missed speech + false alarm + speaker confusion) / scored reference speech, after the
optimal one-to-one mapping of hypothesis to reference speakers. Overlapped speech is scored
(``skip_overlap=False``): a frame where two reference speakers talk counts twice.

Collar convention: our ``collar`` is the NIST md-eval ``-c`` value used by EEND and ESPnet
papers, a no-score zone of ``collar`` seconds on EACH side of every reference boundary
(``collar=0.25`` removes 0.5 s around a boundary). pyannote's ``collar`` is the TOTAL width
of that zone, centred on the boundary, so we pass it ``2 * collar`` (checked against
hand-computed values in tests/unit/test_diarization_metrics.py).

The scored region (UEM) of a recording, without a UEM file, is ``region``:
- ``"reference"`` (the default): from the first start to the last end of the reference's turns,
  as NIST md-eval-22 does (``uem_from_rttm`` of the reference): hypothesis speech outside the
  reference's extent is not scored;
- ``"union"``: from 0 to the last end of any reference or hypothesis turn, as dscore and
  pyannote.metrics (without a UEM) do: speech the hypothesis adds after the reference ends
  is false alarm.
``uem`` (read with :func:`read_uem`: ``reco channel start end`` lines, as AMI's) gives the
spans instead; the report's ``region`` says which was used (``"uem"`` for a UEM).

Figures are in percent of scored speech (``der``, ``missed``, ``false_alarm``,
``confusion``, ``jer``) and seconds (``total_s``, ``missed_s``, ``false_alarm_s``,
``confusion_s``); ``total_s`` is the scored reference speech, collars removed, and
``reference_s`` all of it: with turns shorter than the no-score zone (FSDD digits last ~0.4 s)
a 0.25 s collar leaves almost nothing to score, which ``total_s / reference_s`` shows.
"""

from __future__ import annotations

from audiokit.data.rttm import Turn, to_annotation

# scored regions without a UEM (module docstring); the first is the default
REGIONS = ("reference", "union")

# pyannote's component names -> ours
_COMPONENTS = {"missed detection": "missed", "false alarm": "false_alarm",
               "confusion": "confusion", "total": "total"}


def _percent(part: float, total: float) -> float:
    return 100.0 * part / total if total > 0 else 0.0


def _row(seconds: dict[str, float]) -> dict[str, float]:
    """Seconds of each error kind -> the row of figures described in the module docstring."""
    total = seconds["total"]
    errors = seconds["missed"] + seconds["false_alarm"] + seconds["confusion"]
    row = {"der": _percent(errors, total)}
    row.update({k: _percent(seconds[k], total) for k in ("missed", "false_alarm", "confusion")})
    row.update({f"{k}_s": seconds[k] for k in ("total", "missed", "false_alarm", "confusion")})
    return row


def read_uem(path) -> dict[str, list[tuple[float, float]]]:
    """``reco channel start end`` lines -> {reco: [(start, end)]}; bad lines name file:line."""
    from pathlib import Path

    spans: dict[str, list[tuple[float, float]]] = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        try:
            reco, start, end = fields[0], float(fields[2]), float(fields[3])
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{lineno}: expected 'reco channel start end', got "
                             f"{line!r}") from None
        if not 0 <= start < end:
            raise ValueError(f"{path}:{lineno}: span {start}..{end} of '{reco}' is empty or "
                             "negative")
        spans.setdefault(reco, []).append((start, end))
    return spans


def diarization_error(ref: dict[str, list[Turn]], hyp: dict[str, list[Turn]],
                      collar: float = 0.0, *, missing: str = "error", jer: bool = False,
                      uem: dict[str, list[tuple[float, float]]] | None = None,
                      region: str = "reference") -> dict:
    """DER over every reference recording (errors pooled, not averaged per recording).

    Returns the totals (see the module docstring), ``collar``, ``region``, ``num_recordings``,
    ``missing`` (recordings without hypothesis turns) and ``recordings``: one row of figures
    per recording. A reference recording absent from ``hyp`` is an error naming it, or with
    ``missing="miss"`` is scored as all missed (a system that found no speech there writes no
    RTTM line for it). A hypothesis recording absent from ``ref`` is always an error (most
    likely the wrong files). ``jer=True`` adds the Jaccard error rate (DIHARD's JER: the mean
    over reference speakers of all recordings of each one's error).
    """
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    if collar < 0:
        raise ValueError(f"collar must be >= 0 seconds, got {collar}")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    if missing not in ("error", "miss"):
        raise ValueError(f"missing must be 'error' or 'miss', got {missing!r}")
    unknown = sorted(set(hyp) - set(ref))
    if unknown:
        raise ValueError(f"{len(unknown)} hypothesis recording(s) have no reference, e.g. "
                         f"{unknown[:3]}")
    absent = sorted(r for r in ref if not hyp.get(r))
    if absent and missing == "error":
        raise ValueError(f"no hypothesis turns for {len(absent)} reference recording(s), e.g. "
                         f"{absent[:3]} (missing='miss' scores them as all missed)")
    der_metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    jer_metric = JaccardErrorRate(collar=2 * collar, skip_overlap=False) if jer else None
    totals = dict.fromkeys(_COMPONENTS.values(), 0.0)
    rows = {}
    for reco in sorted(ref):
        ref_ann = to_annotation(ref[reco], reco)
        hyp_ann = to_annotation(hyp.get(reco, []), reco)
        if not any(t.end > 0 for t in [*ref[reco], *hyp.get(reco, [])]):
            rows[reco] = _row(dict.fromkeys(totals, 0.0))  # nothing said: nothing to score
            continue
        if uem is not None:
            if reco not in uem:
                raise ValueError(f"the UEM has no scored region for recording '{reco}'")
            spans = uem[reco]
        elif region == "reference":
            spans = [(min((t.start for t in ref[reco]), default=0.0),
                      max((t.end for t in ref[reco]), default=0.0))]
        else:
            spans = [(0.0, max((t.end for t in [*ref[reco], *hyp.get(reco, [])]), default=0.0))]
        spans = [(start, end) for start, end in spans if end > start]
        if not spans:  # an empty region (the reference says nothing): nothing to score
            rows[reco] = _row(dict.fromkeys(totals, 0.0))
            continue
        scored = Timeline([Segment(s, e) for s, e in spans]).support()
        detail = der_metric(ref_ann, hyp_ann, uem=scored, detailed=True)
        seconds = {ours: float(detail[theirs]) for theirs, ours in _COMPONENTS.items()}
        for k, v in seconds.items():
            totals[k] += v
        rows[reco] = _row(seconds)
        if jer_metric is not None:
            rows[reco]["jer"] = 100.0 * jer_metric(ref_ann, hyp_ann, uem=scored)
    reference = sum(t.end - t.start for turns in ref.values() for t in turns)
    report = {"collar": collar, "region": "uem" if uem is not None else region,
              **_row(totals), "reference_s": reference,
              "num_recordings": len(rows),
              "missing": absent, "recordings": rows}
    if jer_metric is not None:
        report["jer"] = 100.0 * abs(jer_metric)  # accumulated over all recordings' speakers
    return report

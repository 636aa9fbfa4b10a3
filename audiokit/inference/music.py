"""audiokit-infer for music LMs: NLL of every piece of a data dir, and sampling to MIDI.

A music data dir lists its pieces as ``events`` (from ``audiokit-prep music-tokens``) or, for
a dir the recipe never saw, as ``midi.scp`` (read on the model's own grid). Writes in O:

- ``nll`` (``piece nll_nats tokens``) and ``nll.json``: each piece is ``<sos> events <eos>``
  and every token after ``<sos>`` is scored; a piece longer than the context is scored in
  windows of ``max_len`` that advance by ``music.stride`` tokens (default half the context),
  each token with the longest context its window gives. Off with ``music.nll=false``.
- with ``music.num_samples`` N > 0: N pieces sampled from ``<sos>`` (or, with
  ``music.prompt_events`` P > 0, continuations of the first P events of the dir's first N
  pieces), at ``music.temperature``, from the ``music.top_k`` likeliest events (0: all), at
  most ``music.max_events`` events each (to the end of the context by default; more is
  refused: the model has no positions beyond its context), ending at ``<sos/eos>``:
  ``samples/<id>.mid`` (at ``music.bpm``), ``midi.scp`` and ``events``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.inference.progress import InferenceProgress
from audiokit.music.events import EventConfig, decode, encode
from audiokit.music.midi_io import MidiError, read_midi, write_midi
from audiokit.utils.errors import UserError

OPTIONS = {"nll": True, "stride": None, "num_samples": 0, "prompt_events": 0,
           "max_events": None, "temperature": 1.0, "top_k": 0, "seed": 0, "batch_size": 10,
           "bpm": 100.0}


class MusicGenerator:
    def __init__(self, task, sample_rate: int = 0, device: str = "cpu",
                 music: dict | None = None) -> None:
        unknown = sorted(set(music or {}) - set(OPTIONS))
        if unknown:
            raise UserError(f"unknown music option(s) {unknown}: valid are {', '.join(OPTIONS)}")
        self.options = {**OPTIONS, **(music or {})}
        self.model = task.model.eval().to(device)
        self.tokenizer = task.tokenizer
        self.cfg = EventConfig(**task.events) if task.events else EventConfig()
        self.device = device
        self.max_len = int(getattr(self.model, "max_len", 1 << 30))

    # --- pieces -------------------------------------------------------------------------
    def pieces(self, data_dir: str, on_bad: str = "error") -> tuple[dict[str, list[int]], dict]:
        d = Path(data_dir)
        skipped: dict[str, str] = {}
        if (d / "events").is_file():
            texts = read_kaldi_map(d / "events")
        elif (d / "midi.scp").is_file():
            texts = {}
            for pid, path in read_kaldi_map(d / "midi.scp").items():
                try:
                    texts[pid] = " ".join(encode(read_midi(path, self.cfg), self.cfg))
                except MidiError as e:
                    if on_bad != "skip":
                        raise UserError(f"{d}/midi.scp: piece '{pid}': {e}") from None
                    skipped[pid] = str(e)
        else:
            raise UserError(f"{data_dir}: no events or midi.scp (not a music data dir)")
        out = {}
        for pid, text in texts.items():
            unknown = self.tokenizer.unknown(text)
            if unknown:
                raise DataDirError(f"{data_dir}: piece '{pid}': events outside the model's token "
                                   f"list {unknown[:5]} (tokenized on another grid?)")
            out[pid] = self.tokenizer.encode(text)
        return out, skipped

    # --- likelihood ---------------------------------------------------------------------
    @torch.no_grad()
    def piece_nll(self, ids: list[int]) -> tuple[float, int]:
        """(summed NLL in nats, tokens scored) of ``<sos> ids <eos>``."""
        eos = self.tokenizer.eos_id
        seq = torch.tensor([eos, *ids, eos], device=self.device)
        ctx = self.max_len
        stride = int(self.options["stride"] or max(1, ctx // 2))
        total, done, start = 0.0, 0, 0  # done: targets seq[1 .. done] scored
        while done < len(seq) - 1:
            window = seq[start:start + ctx + 1]
            logp = self.model(window[None, :-1]).float().log_softmax(-1)[0]
            nll = -logp.gather(-1, window[1:, None])[:, 0]
            first_new = done + 1 - (start + 1)  # index in window targets of the first new one
            total += float(nll[first_new:].sum())
            done = start + len(window) - 1
            start += stride
        return total, len(seq) - 1

    # --- sampling -----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, prompts: list[list[int]], generator: torch.Generator) -> list[list[int]]:
        """Continuations (new ids only, without the final eos) of ``<sos> prompt`` each."""
        o = self.options
        eos = self.tokenizer.eos_id
        longest = max(len(p) for p in prompts) + 1
        budget = self.max_len + 1 - longest
        max_events = o["max_events"] if o["max_events"] is not None else budget
        if max_events > budget or max_events < 1:
            raise UserError(f"music.max_events={max_events}: the model's context is "
                            f"{self.max_len} tokens, leaving {budget} after the start token and "
                            f"a prompt of {longest - 1} events (windowed generation is not "
                            "implemented)")
        banned = torch.tensor([self.tokenizer.blank_id, self.tokenizer.unk_id], device=self.device)
        by_len: dict[int, list[int]] = {}  # prompts of one length are sampled in batches
        for i, p in enumerate(prompts):
            by_len.setdefault(len(p), []).append(i)
        results = [[] for _ in prompts]
        for _, index in sorted(by_len.items()):
            for b in range(0, len(index), int(o["batch_size"])):
                chunk = index[b:b + int(o["batch_size"])]
                ys = torch.tensor([[eos, *prompts[i]] for i in chunk], device=self.device)
                finished = torch.zeros(len(chunk), dtype=torch.bool, device=self.device)
                state = None
                for _ in range(max_events):
                    logp, state = self.model.step(ys, state)
                    logp = logp.float() / max(float(o["temperature"]), 1e-6)
                    logp[:, banned] = -math.inf
                    if o["top_k"]:
                        kth = logp.topk(int(o["top_k"]), dim=-1).values[:, -1:]
                        logp = logp.masked_fill(logp < kth, -math.inf)
                    nxt = torch.multinomial(F.softmax(logp, -1).cpu(), 1, generator=generator)
                    nxt = nxt.to(self.device).masked_fill(finished[:, None], eos)
                    ys = torch.cat([ys, nxt], dim=1)
                    finished |= nxt[:, 0] == eos
                    if finished.all():
                        break
                for row, i in zip(ys.tolist(), chunk, strict=True):
                    new = row[1 + len(prompts[i]):]
                    results[i] = new[:new.index(eos)] if eos in new else new
        return results

    def process_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                         progress: InferenceProgress | None = None, **_batch_options) -> dict[str, str]:
        """NLL per piece and samples (see the module doc). With ``progress`` (audiokit-infer's
        journal) a run that stopped part way keeps the NLL of the pieces done; the samples
        (one seeded batch) are drawn again."""
        o = self.options
        progress = progress or InferenceProgress.memory_only(output_dir)
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        pieces, skipped = self.pieces(data_dir, on_bad_audio)
        if skipped:
            (out / "skipped").write_text("".join(f"{k} {v}\n" for k, v in skipped.items()))
        if o["nll"]:
            for pid in progress.begin(list(pieces)):
                nll, n = self.piece_nll(pieces[pid])
                progress.record({pid: [float(nll), int(n)]})
            lines, total, count = [], 0.0, 0
            for pid in pieces:
                nll, n = progress.results[pid]
                lines.append(f"{pid} {nll:.6f} {n}\n")
                total, count = total + nll, count + n
            (out / "nll").write_text("".join(lines))
            summary = {"nll_per_token": total / max(count, 1), "num_tokens": count,
                       "num_pieces": len(pieces), "context": self.max_len,
                       "stride": int(o["stride"] or max(1, self.max_len // 2)),
                       "data_dir": str(data_dir)}
            (out / "nll.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(f"  NLL {summary['nll_per_token']:.4f} nats per token over {count} tokens "
                  f"of {len(pieces)} pieces -> {out}/nll")
        n = int(o["num_samples"])
        if n > 0:
            self._write_samples(pieces, out, n)
        progress.finish()
        return skipped

    def _write_samples(self, pieces: dict[str, list[int]], out: Path, n: int) -> None:
        o = self.options
        p = int(o["prompt_events"])
        if p > 0:
            chosen = list(pieces)[:n]
            ids = [f"{pid}_cont" for pid in chosen]
            prompts = [pieces[pid][:p] for pid in chosen]
        else:
            ids = [f"sample{i:03d}" for i in range(n)]
            prompts = [[] for _ in range(n)]
        generator = torch.Generator().manual_seed(int(o["seed"]))
        news = self.sample(prompts, generator)
        (out / "samples").mkdir(exist_ok=True)
        scp, events = [], []
        for sid, prompt, new in zip(ids, prompts, news, strict=True):
            names = self.tokenizer.decode(prompt + new).split()
            path = (out / "samples" / f"{sid}.mid").resolve()
            write_midi(decode(names, self.cfg), path, self.cfg, bpm=float(o["bpm"]))
            scp.append(f"{sid} {path}\n")
            events.append(f"{sid} {' '.join(names)}\n")
        (out / "midi.scp").write_text("".join(scp))
        (out / "events").write_text("".join(events))
        print(f"  {len(ids)} samples -> {out}/midi.scp")

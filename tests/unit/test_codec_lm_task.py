"""Codec LM training: token data dirs (checks, prompts, batching), the task's loss, a short
training run whose validation loss must fall (and whose greedy generation then reproduces the
data), VALL-E's NAR stage learning too, and model.pt export + load through the allowlist."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from audiokit.data.datadir import DataDirError
from audiokit.data.token_datamodule import CodecTokenDataModule, collate_codes

K, CARD = 2, 8


pytestmark = pytest.mark.usefixtures("one_thread")


def codes_for(digit: int) -> np.ndarray:
    """What the synthetic codec 'says' for a digit: 3 + digit % 4 frames, codebook 0 counting
    up from the digit, codebook 1 a function of codebook 0 (so the delay pattern can use it)."""
    t = np.arange(3 + digit % 4)
    first = (digit + t) % CARD
    return np.stack([first, (3 * first + 1) % CARD]).astype(np.int16)


def write_token_dir(path: Path, digits: list[int], speakers: int = 2) -> Path:
    (path / "codes").mkdir(parents=True, exist_ok=True)
    scp, text, spk = [], [], []
    for i, d in enumerate(digits):
        utt = f"s{i % speakers}_{i:03d}"
        np.save(path / "codes" / f"{utt}.npy", codes_for(d))
        scp.append(f"{utt} {path / 'codes' / f'{utt}.npy'}")
        text.append(f"{utt} {d}")
        spk.append(f"{utt} s{i % speakers}")
    for name, lines in (("codes.scp", scp), ("text", text), ("utt2spk", spk)):
        (path / name).write_text("".join(f"{ln}\n" for ln in sorted(lines)))
    return path


@pytest.fixture(scope="module")
def token_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    rng = np.random.default_rng(0)
    return (write_token_dir(root / "train", list(rng.integers(0, 10, 160))),
            write_token_dir(root / "valid", list(range(10)) * 2))


def datamodule(dirs, **kw) -> CodecTokenDataModule:
    args = {"codebook_size": CARD, "max_batch_frames": 200} | kw
    dm = CodecTokenDataModule(str(dirs[0]), str(dirs[1]), **args)
    dm.setup("fit")
    return dm


def make_task(kwargs: dict, model: dict, lr: float = 3e-3):
    from audiokit.tasks.codec_lm import CodecLMTask

    torch.manual_seed(0)
    base = {"d_model": 48, "num_heads": 4, "ffn_dim": 96, "num_layers": 2, "dropout": 0.0}
    return CodecLMTask(**kwargs, model=base | model,
                       optim={"_target_": "torch.optim.Adam", "lr": lr},
                       loss={"_target_": "torch.nn.CrossEntropyLoss"})


# ---- data ----------------------------------------------------------------------------------


def test_token_data_reads_codes_text_and_prompts(token_dirs):
    dm = datamodule(token_dirs, prompt="same_speaker", prompt_frames=4)
    assert dm.task_kwargs() == {"n_q": K, "codebook_size": CARD,
                                "text_vocab": [str(d) for d in range(10)]}
    item = dm.valid_set[3]
    digit = int(dm.valid_set.ids[3].split("_")[1]) % 10
    assert torch.equal(item["codes"], torch.from_numpy(codes_for(digit).astype(np.int64)))
    assert item["text"].tolist() == [digit]
    assert item["prompt"].shape[0] == K and item["prompt"].shape[1] <= 4
    batches = list(dm.val_dataloader())
    assert sorted(u for b in batches for u in b["ids"]) == sorted(dm.valid_set.ids)
    for b in batches:
        assert b["codes"].shape[:2] == (len(b["ids"]), K)
        lengths = b["code_lens"] + 1 + b["text_lens"] + b["prompt_lens"]
        assert len(b["ids"]) * int(lengths.max()) <= 200 or len(b["ids"]) == 1
        for i, utt in enumerate(b["ids"]):  # the prompt is another utterance of the speaker
            spk = utt.split("_")[0]
            j = dm.valid_set.ids.index(utt)
            src = next(u for u, c in zip(dm.valid_set.ids, dm.valid_set.codes, strict=True)
                       if c is dm.valid_set.prompt_of[j])
            assert src != utt and src.startswith(spk)
            assert torch.equal(b["prompt"][i, :, : b["prompt_lens"][i]],
                               dm.valid_set.prompt_of[j][:, :4])


def test_utt2prompt_pairs_and_collate_pads(token_dirs, tmp_path):
    d = write_token_dir(tmp_path / "d", [1, 2, 3, 5])
    ids = (d / "codes.scp").read_text().split()[::2]
    (d / "utt2prompt").write_text(f"{ids[0]} {ids[2]}\n{ids[1]} {d / 'codes' / (ids[3] + '.npy')}\n"
                                  f"{ids[2]} {ids[0]}\n{ids[3]} {ids[0]}\n")
    dm = datamodule((d, d), prompt="utt2prompt")
    assert torch.equal(dm.train_set[0]["prompt"], dm.train_set[2]["codes"])
    assert torch.equal(dm.train_set[1]["prompt"], dm.train_set[3]["codes"])
    b = collate_codes([dm.train_set[i] for i in range(4)])
    assert b["codes"].shape == (4, K, 6) and b["code_lens"].tolist() == [4, 6, 5, 4]
    assert b["prompt_lens"].tolist() == [5, 4, 4, 4]


def test_codes_from_another_codec_name_the_utterance(token_dirs, tmp_path):
    d = write_token_dir(tmp_path / "bad", [1, 2, 3])
    utt = sorted(p.stem for p in (d / "codes").glob("*.npy"))[1]
    np.save(d / "codes" / f"{utt}.npy", np.zeros((3, 5), np.int16))
    with pytest.raises(DataDirError, match=f"utterance '{utt}'.*3 codebooks, expected 2"):
        datamodule((d, d))
    np.save(d / "codes" / f"{utt}.npy", np.full((2, 5), CARD, np.int16))
    with pytest.raises(DataDirError, match=f"utterance '{utt}'.*outside the codebook size 8"):
        datamodule((d, d))
    # a valid dir made with another codebook count than the training dir
    np.save(d / "codes" / f"{utt}.npy", np.zeros((2, 5), np.int16))
    other = write_token_dir(tmp_path / "other", [4])
    np.save(next((other / "codes").glob("*.npy")), np.zeros((4, 5), np.int16))
    with pytest.raises(DataDirError, match="4 codebooks, expected 2"):
        datamodule((d, other))
    with pytest.raises(DataDirError, match="no codes.scp"):
        datamodule((tmp_path, d))


def test_task_refuses_codes_of_another_codec(token_dirs):
    task = make_task(datamodule(token_dirs).task_kwargs(), {
        "_target_": "audiokit.models.codec_lm.CodecLM", "pattern": "delay"})
    b = collate_codes([{"id": "x", "codes": torch.zeros(3, 4, dtype=torch.long)}])
    with pytest.raises(ValueError, match=r"\['x'\]: codes has 3 codebooks, this model 2"):
        task(b)
    b = collate_codes([{"id": "y", "codes": torch.full((2, 4), CARD, dtype=torch.long)}])
    with pytest.raises(ValueError, match="'y': codes values outside .* codebook size 8"):
        task(b)


# ---- training --------------------------------------------------------------------------------


def fit(task, dm, epochs: int):
    import lightning.pytorch as pl

    trainer = pl.Trainer(accelerator="cpu", max_epochs=epochs, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    before = trainer.validate(task, datamodule=dm, verbose=False)[0]["valid/loss"]
    trainer.fit(task, datamodule=dm)
    return before, float(trainer.callback_metrics["valid/loss"]), trainer


def test_training_lowers_the_loss_and_generation_reproduces_the_data(token_dirs):
    from audiokit.models.codec_lm import generate

    dm = datamodule(token_dirs)
    task = make_task(dm.task_kwargs(), {"_target_": "audiokit.models.codec_lm.CodecLM",
                                        "pattern": "delay", "condition": "cross",
                                        "cond_dropout": 0.1})
    before, after, trainer = fit(task, dm, 12)
    # uniform over 9 classes: ln 9 = 2.2; the data are a function of the text
    assert before > 1.8 and trainer.global_step >= 40
    assert after < 0.25, f"valid loss {after:.3f} after training (before {before:.3f})"
    task.eval()
    text = torch.arange(10)[:, None]
    out = generate(task.model, text=text, text_lens=torch.ones(10, dtype=torch.long),
                   max_frames=12, temperature=0, guidance=1.0)
    right = sum(c.shape == codes_for(d).shape and np.array_equal(c.numpy(), codes_for(d))
                for d, c in enumerate(out.codes))
    assert right >= 9 and not any(out.hit_max)


def test_valle_nar_stage_learns(token_dirs):
    dm = datamodule(token_dirs, prompt="same_speaker")
    task = make_task(dm.task_kwargs(), {"_target_": "audiokit.models.codec_lm.CodecNAR"})
    before, after, _ = fit(task, dm, 6)
    # codebook 1 is a function of codebook 0: the NAR stage must find it
    assert before > 1.8 and after < 0.3, (before, after)


# ---- config, export, loading -----------------------------------------------------------------


@pytest.mark.parametrize("experiment", ["codec_lm/fsdd_delay", "codec_lm/fsdd_valle_ar",
                                        "codec_lm/fsdd_valle_nar"])
def test_experiment_builds_and_model_file_round_trips(experiment, token_dirs, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR, build_task, export_model
    from audiokit.inference.loading import load_task
    from audiokit.tasks.codec_lm import CodecLMTask

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"experiment={experiment}", f"exp_dir={tmp_path}", f"paths.train_dir={token_dirs[0]}",
            f"paths.valid_dir={token_dirs[1]}", f"data.codebook_size={CARD}", "model.d_model=32",
            "model.ffn_dim=64", "model.num_layers=1"])
    GlobalHydra.instance().clear()
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    assert isinstance(task, CodecLMTask) and task.frontend is None
    (tmp_path / "config.yaml").write_text("{}\n")
    export_model(SimpleNamespace(checkpoint_callback=None), task, tmp_path)
    loaded, _ = load_task(tmp_path)   # through the allowlist of trusted_config
    assert loaded.text_vocab == task.text_vocab and loaded.n_q == K
    dm.setup("fit")
    b = next(iter(dm.val_dataloader()))
    task.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        expected = task(b)[0]
        torch.manual_seed(0)
        torch.testing.assert_close(loaded(b)[0], expected)


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(token_dirs, tmp_path):
    """Two epochs in one go, or one epoch then resume=auto for the second: the same weights
    (dropout and condition dropout draw from the RNG that ExactResume restores)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from audiokit.cli.train import CONF_DIR, train
    from audiokit.inference.loading import read_model_file

    def run(exp, epochs, resume="never"):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("train", overrides=[
                "experiment=codec_lm/fsdd_delay", f"exp_dir={exp}", f"resume={resume}",
                f"paths.train_dir={token_dirs[0]}", f"paths.valid_dir={token_dirs[1]}",
                f"data.codebook_size={CARD}", "data.max_batch_frames=150", "model.d_model=32",
                "model.ffn_dim=64", "model.num_layers=1", "model.cond_dropout=0.3",
                "scheduler.total_steps=40", "scheduler.warmup_steps=5",
                f"trainer.max_epochs={epochs}",
                "callbacks.progress=null"])
        GlobalHydra.instance().clear()
        train(cfg)
        return read_model_file(exp / "model.pt")["state_dict"]

    straight = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 2, resume="auto")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key

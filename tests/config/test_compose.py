"""Every option of every config group composes, and instantiates what it describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from audiokit.cli.train import CONF_DIR, build_task, build_trainer
from audiokit.utils.config_check import ConfigKeyError, check_overrides

CONF = Path(CONF_DIR)


def options(group: str) -> list[str]:
    # '_'-prefixed files (experiment bases such as sep/_fsdd_base) are not options by themselves
    return sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).rglob("*.yaml")
                  if not p.name.startswith("_"))


def compose_train(overrides, hydra_config=False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra_config)


# Models by the task that drives them; a new model option must be added here (a test checks).
CLASSIFICATION_MODELS = ["ast", "conv1d", "resnet"]
ASR_MODELS = ["conformer", "transformer"]
SEPARATION_MODELS = ["conv_tasnet", "dccrn", "dprnn", "sepformer", "stft_mask"]
SPEAKER_MODELS = ["ecapa_tdnn", "resnet34_speaker", "xvector"]
DIARIZATION_MODELS = ["eend", "vad_net"]
OTHER_MODELS = {"transformer_lm": "lm experiment", "wav2vec2_ctc": "16 kHz raw audio, own test",
                "whisper_tiny": "whisper experiment", "codec_seanet": "codec experiment (GAN task)",
                "codec_seanet_16k": "codec experiment (GAN task)",
                "hifigan_v1": "vocoder experiment (GAN task)",
                "hifigan_v3": "vocoder experiment (GAN task)",
                "wavernn": "vocoder experiment (GAN task, no discriminator)",
                "audio_mae": "ssl experiment (masked pretraining task), own unit test",
                "hubert_pretrain": "ssl/fsdd_hubert_iter* (HuBERT pretraining task), own unit test",
                "speaker_invariant_clustering": "ssl/fsdd_spin (view pretraining task), own unit test",
                "codec_lm": "codec_lm experiments (codec LM task), own unit tests",
                "codec_lm_nar": "codec_lm/fsdd_valle_nar (codec LM task), own unit tests",
                "tacotron2": "tts experiment (TTS task), own unit test",
                "tacotron2_small": "tts experiment (TTS task), own unit test",
                "vits": "tts/fsdd_vits (VITS through the GAN task), own unit tests",
                "music_relative": "music experiment (music LM task), own unit test",
                "music_vanilla": "music experiment (music LM task), own unit test",
                "mel_unet": "diffusion experiment (diffusion task), own unit tests"}
# SSL frontends over base-size encoders (random here): tests/unit/test_ssl_features.py
SSL_BASE_FRONTENDS = ("ssl_audio_mae", "ssl_beats", "ssl_hubert")
FRONTENDS = [f for f in options("frontend")
             if f not in ("none", "whisper_logmel", *SSL_BASE_FRONTENDS)]


@pytest.fixture
def base(tiny_fsdd, tmp_path):
    return [f"paths.data_root={tiny_fsdd}", f"exp_dir={tmp_path}/exp",
            f"paths.label_list={tiny_fsdd}/labels.txt"]


@pytest.fixture(scope="module")
def digit_tokens(tmp_path_factory):
    from audiokit.text.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("tokens")
    return out, train_tokenizer("word", ["zero one two three four five six seven eight nine"], out)


def task_kwargs(experiment: str, digit_tokens, cfg=None) -> dict:
    """What each task family's datamodule would hand the task."""
    if experiment.startswith(("cls/", "ssl/")):  # masked pretraining ignores the labels
        return {"labels": [str(d) for d in range(10)]}
    if experiment.startswith("sv/"):
        return {"labels": ["george", "jackson", "theo"]}
    if experiment.startswith(("sep/", "enh/")):
        return {"num_sources": cfg.data.num_sources, "sample_rate": cfg.data.sample_rate}
    if experiment.startswith(("voc/", "codec/")):   # GAN task
        return {"sample_rate": cfg.data.sample_rate}
    if experiment.startswith("diar/"):
        return {"sample_rate": cfg.data.sample_rate, "frame_shift": cfg.data.frame_shift}
    if experiment.startswith("tts/"):  # the TTS data module builds the text front end
        from audiokit.text.tts_frontend import TextFrontend

        return {"text": TextFrontend.build("char", "english", ["three one four"]).spec()}
    if experiment.startswith("codec_lm/"):  # the token datamodule reads the codec's codes
        return {"n_q": 2, "codebook_size": cfg.data.codebook_size,
                "text_vocab": list("0123456789")}
    return {"tokenizer": digit_tokens[1]}


def ast_encoder_file(cfg, path: Path) -> Path:
    """A pretraining model.pt holding a random AST encoder of the experiment's geometry."""
    from audiokit.models.classification.ast import ASTEncoder

    m = cfg.model
    encoder = ASTEncoder(cfg.frontend.n_mels, m.patch_size, m.patch_stride, m.d_model,
                         m.num_layers, m.num_heads, m.ffn_dim, m.dropout, m.max_frames)
    torch.save({"state_dict": {f"model.encoder.{k}": v for k, v in encoder.state_dict().items()}},
               path)
    return path


def smoke(task, sample_rate: int) -> None:
    """One forward pass of a freshly built task on a second of noise."""
    from audiokit.tasks.asr import ASRTask
    from audiokit.tasks.classification import ClassificationTask
    from audiokit.tasks.diarization import DiarizationTask
    from audiokit.tasks.separation import SeparationTask
    from audiokit.tasks.speaker import SpeakerTask
    from audiokit.tasks.speech_activity import SpeechActivityTask

    audio, lens = torch.randn(2, sample_rate), torch.tensor([sample_rate, sample_rate // 2])
    if isinstance(task, SpeakerTask):
        emb = task.embed(audio, lens)
        assert emb.shape == (2, task.model.embedding_dim) and torch.isfinite(emb).all()
    elif isinstance(task, SeparationTask):  # a quarter second: the published models are big
        est = task(audio[:, : sample_rate // 4])
        assert est.shape == (2, task.num_sources, sample_rate // 4) and torch.isfinite(est).all()
    elif isinstance(task, DiarizationTask):
        out = task(audio, lens)
        assert out["logits"].shape[0] == 2 and torch.isfinite(out["logits"]).all()
    elif isinstance(task, SpeechActivityTask):
        probs, _ = task(audio, lens)
        assert probs.shape[-1] == len(task.targets) and ((probs >= 0) & (probs <= 1)).all()
    elif isinstance(task, ClassificationTask):
        assert task(audio, lens).shape == (2, 10)
    elif isinstance(task, ASRTask):
        enc = task.model.encode(*task.frontend(audio, lens))
        assert enc.ctc_log_probs.size(-1) == task.tokenizer.vocab_size
        assert torch.isfinite(enc.ctc_log_probs).all()
    else:  # LM, Whisper: their own unit tests exercise them; here they must build
        assert sum(p.numel() for p in task.parameters()) > 0


def test_every_model_is_covered():
    assert set(options("model")) == (set(CLASSIFICATION_MODELS + ASR_MODELS + SEPARATION_MODELS
                                         + SPEAKER_MODELS + DIARIZATION_MODELS)
                                        | set(OTHER_MODELS))


def test_every_group_has_options():
    for group in ("data", "frontend", "model", "loss", "task", "optim", "scheduler", "trainer",
                  "logger", "callbacks", "launcher", "experiment", "debug"):
        assert options(group), f"conf/{group} is empty"


@pytest.mark.parametrize("option", options("data/augment"))
def test_data_and_augment(option, base):
    cfg = compose_train(base + [f"data/augment={option}", "data.sample_rate=8000"])
    dm = instantiate(cfg.data)
    dm.setup("fit")
    item = dm.train_set[0]
    assert item["audio"].dim() == 1 and item["audio"].abs().sum() > 0
    assert dm.task_kwargs()["labels"] == [str(d) for d in range(10)]


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("model", CLASSIFICATION_MODELS)
def test_frontend_model_task(frontend, model, base):
    if model == "ast" and frontend == "raw":
        pytest.skip("AST patches need frame-level features, not raw samples")
    cfg = compose_train(base + [f"frontend={frontend}", f"model={model}", "data.sample_rate=8000"])
    task = build_task(cfg, {"labels": ["a", "b", "c"]})
    audio = torch.randn(2, 8000)
    logits = task(audio, torch.tensor([8000, 6000]))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


@pytest.mark.parametrize("frontend", ["fbank", "logmel"])
@pytest.mark.parametrize("model", ASR_MODELS)
def test_asr_models(frontend, model, base, digit_tokens):
    cfg = compose_train(base + [f"frontend={frontend}", f"model={model}", "task=asr",
                                "loss=hybrid_ctc_attention", "data.sample_rate=8000",
                                "model.encoder.num_blocks=2", "model.decoder.num_blocks=1"])
    smoke(build_task(cfg, {"tokenizer": digit_tokens[1]}), 8000)


@pytest.mark.parametrize("num_sources", [1, 2])
@pytest.mark.parametrize("model", SEPARATION_MODELS)
def test_separation_models(model, num_sources, base):
    cfg = compose_train(base + ["task=separation", f"model={model}", "loss=pit_si_snr",
                                "frontend=none"])
    smoke(build_task(cfg, {"num_sources": num_sources, "sample_rate": 8000}), 8000)


@pytest.mark.parametrize("loss", ["aam_softmax", "am_softmax", "softmax_speaker"])
@pytest.mark.parametrize("model", SPEAKER_MODELS)
def test_speaker_models(model, loss, base):
    cfg = compose_train(base + ["task=speaker", f"model={model}", f"loss={loss}",
                                "frontend=fbank", "data.sample_rate=8000"])
    smoke(build_task(cfg, {"labels": ["a", "b", "c"]}).eval(), 8000)


@pytest.mark.parametrize("optim", options("optim"))
@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_optim_and_scheduler(optim, scheduler, base):
    cfg = compose_train(base + [f"optim={optim}", f"scheduler={scheduler}"])
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = instantiate(cfg.optim, params)
    if cfg.scheduler:
        extra = {"total_steps": 1000} if cfg.scheduler.get("total_steps", 0) is None else {}
        scheduler = instantiate(cfg.scheduler, opt, **extra)
        opt.step()
        scheduler.step()


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer(trainer, base):
    cfg = compose_train(base + [f"trainer={trainer}", "logger=none"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("GPU trainer config: composes, but instantiating needs a GPU")
    t = build_trainer(cfg, Path(cfg.exp_dir))
    assert t.max_epochs == cfg.trainer.max_epochs


def test_fsdp_strategy_and_block_wrap_policy(base):
    """Lightning refuses FSDP without a GPU, so on CPU build the strategy object itself, with
    the per-block wrap policy the config's comment documents."""
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    from audiokit.models.asr.conformer import ConformerBlock

    block = "audiokit.models.asr.conformer.ConformerBlock"
    cfg = compose_train(base + ["trainer=fsdp", "+trainer.strategy.auto_wrap_policy={_target_: "
                                "torch.distributed.fsdp.wrap.ModuleWrapPolicy, module_classes: "
                                f"[{{_target_: hydra.utils.get_class, path: {block}}}]}}"])
    assert cfg.trainer.precision == "bf16-mixed"
    strategy = instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.sharding_strategy.name == "FULL_SHARD"
    policy = strategy.kwargs["auto_wrap_policy"]
    assert isinstance(policy, ModuleWrapPolicy) and ConformerBlock in policy._module_classes
    # fp32 parameters, buffers and batch (autocast computes in bf16): on an H100, FSDP's bf16
    # buffers broke cuFFT (no bf16 STFT) and BatchNorm's backward
    mp = strategy.mixed_precision_config
    assert (mp.param_dtype, mp.reduce_dtype, mp.buffer_dtype) == (
        torch.float32, torch.bfloat16, torch.float32)


@pytest.mark.parametrize("logger", options("logger"))
@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_logger_and_callbacks(logger, callbacks, base):
    cfg = compose_train(base + [f"logger={logger}", f"callbacks={callbacks}"])
    build_trainer(cfg, Path(cfg.exp_dir))


def test_progress_null_means_no_progress_bar(base):
    """callbacks.progress=null switches the bar off, not over to Lightning's default one."""
    import lightning.pytorch as pl

    def bars(trainer):
        return [c for c in trainer.callbacks if isinstance(c, pl.callbacks.ProgressBar)]

    cfg = compose_train(base + ["logger=none"])
    assert [type(b).__name__ for b in bars(build_trainer(cfg, Path(cfg.exp_dir)))] == [
        "RichProgressBar"]
    cfg = compose_train(base + ["logger=none", "callbacks.progress=null"])
    assert bars(build_trainer(cfg, Path(cfg.exp_dir))) == []


def test_loggers_combine(base):
    cfg = compose_train(base + ["logger=[csv,tensorboard]"])
    assert set(cfg.logger) == {"csv", "tensorboard"}


@pytest.mark.parametrize("launcher", options("launcher"))
def test_launcher(launcher, base):
    cfg = compose_train(base + [f"launcher={launcher}"], hydra_config=True)
    expected = {"local": "BasicLauncher", "slurm": "SlurmLauncher",
                "submitit_local": "LocalLauncher"}[launcher]
    assert cfg.hydra.launcher._target_.endswith(expected)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment(experiment, base, digit_tokens, tmp_path):
    cfg = compose_train(base + [f"experiment={experiment}", f"paths.token_dir={digit_tokens[0]}"])
    if OmegaConf.is_missing(cfg.model, "pretrained"):  # ssl/fsdd_spin continues an encoder
        cfg.model.pretrained = str(ast_encoder_file(cfg, tmp_path / "encoder.pt"))
    if cfg.model.get("compile_blocks"):  # compiled == eager: tests/unit/test_separation_models.py
        cfg.model.compile_blocks = False  # (compiling the full-size model here took 40 s)
    smoke(build_task(cfg, task_kwargs(experiment, digit_tokens, cfg)),
          cfg.data.get("sample_rate", 8000))


@pytest.mark.parametrize("debug", options("debug"))
def test_debug(debug, base):
    cfg = compose_train(base + [f"debug={debug}"])
    build_trainer(cfg, Path(cfg.exp_dir))


def test_misspelt_key_names_the_closest():
    with pytest.raises(ConfigKeyError, match=r"unknown config key 'trainer.max_epoch'; did you mean 'trainer.max_epochs'\?"):
        check_overrides(CONF_DIR, "train", ["trainer.max_epoch=3"])
    with pytest.raises(ConfigKeyError, match=r"'data.max_batch_second'; did you mean 'data.max_batch_seconds'"):
        check_overrides(CONF_DIR, "train", ["experiment=cls/fsdd_cnn", "data.max_batch_second=3"])
    check_overrides(CONF_DIR, "train", ["trainer.max_epochs=3", "+trainer.new_key=1"])


def test_freeze_takes_a_block_count_or_a_word():
    # ssl/fsdd_spin's default is a block count (2); none / all must still pass the type check
    for value in ("none", "all", "1"):
        check_overrides(CONF_DIR, "train", ["experiment=ssl/fsdd_spin", f"model.freeze={value}"])
    with pytest.raises(ConfigKeyError, match="model.num_layers takes a whole number"):
        check_overrides(CONF_DIR, "train", ["experiment=ssl/fsdd_spin", "model.num_layers=none"])


@pytest.mark.parametrize("experiment", [e for e in options("experiment") if e.startswith("sep/fsdd")])
def test_sep_speed_factors_need_no_plus(experiment):
    # The README's override: every dynamic-mixing experiment lists the key, so it just works.
    overrides = [f"experiment={experiment}", "data.dynamic_mixing.speed_factors=[0.9,1.0,1.1]"]
    check_overrides(CONF_DIR, "train", overrides)
    assert list(compose_train(overrides).data.dynamic_mixing.speed_factors) == [0.9, 1.0, 1.1]

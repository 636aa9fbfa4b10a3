"""A model file from someone else must not run code (issue 26, part 1).

Every test plants a gadget that, if anything in audiokit ran it, would create a marker file,
and asserts a clean error naming the file and no marker. The gadgets are checked to be live
(they do create the marker when run directly), so a passing test is not a vacuous one.
"""

from __future__ import annotations

import ast
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from audiokit.inference.loading import MODEL_FILE, load_task
from audiokit.utils.trusted_config import (
    TRUSTED_PACKAGES_ENV,
    UntrustedConfigError,
    check_config,
    check_pipeline,
    check_target,
)

PACKAGE = Path(__file__).resolve().parents[2] / "audiokit"
REFUSED = r"is not allowed \(allowed: torch modules, optimizers and LR schedulers from audiokit"


class _Gadget:
    """Unpickling it opens (creates) ``marker``: stands for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pickle_gadget(path: Path, marker: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump(_Gadget(marker), f)
    return path


def numpy_gadget(payload: Path) -> dict:
    """The config of the issue: numpy.load runs the pickle shipped beside the model."""
    return {"_target_": "numpy.load", "file": str(payload), "allow_pickle": True}


def tiny_task():
    from audiokit.tasks.classification import ClassificationTask

    torch.manual_seed(0)
    return ClassificationTask(
        labels=["a", "b"],
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 16},
        model={"_target_": "audiokit.models.classification.ResNetClassifier",
               "channels": [4], "blocks": [1]},
        loss={"_target_": "torch.nn.CrossEntropyLoss"},
        optim={"_target_": "torch.optim.Adam", "lr": 1e-3},
        scheduler={"_target_": "audiokit.optim.schedulers.WarmupCosine", "warmup_steps": 2,
                   "total_steps": 10},
        specaugment={"_target_": "audiokit.data.augment.SpecAugment", "freq_width": 2},
    )


def make_exp_dir(root: Path) -> Path:
    """An exp dir as audiokit-train writes it (model.pt by its own export_model)."""
    import lightning.pytorch as pl

    from audiokit.cli.train import export_model

    exp = root / "exp"
    exp.mkdir(parents=True)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    export_model(trainer, tiny_task(), exp)  # no checkpoint: the task's own weights
    (exp / "config.yaml").write_text(OmegaConf.to_yaml({"data": {"sample_rate": 8000}}))
    return exp


def poison(exp: Path, edit) -> None:
    """Rewrite model.pt's hparams with ``edit(hparams)``, keeping everything else."""
    saved = torch.load(exp / MODEL_FILE, weights_only=True)
    edit(saved["hparams"])
    torch.save(saved, exp / MODEL_FILE)


@pytest.fixture
def gadget_exp(tmp_path):
    """(exp dir whose frontend is the numpy.load gadget, marker it would create)."""
    exp = make_exp_dir(tmp_path)
    marker = tmp_path / "PWNED"
    payload = write_pickle_gadget(exp / "frontend.npy", marker)
    poison(exp, lambda hp: hp.__setitem__("frontend", numpy_gadget(payload)))
    return exp, marker


def assert_live(payload: Path, marker: Path) -> None:
    """The gadget really runs code when loaded the way the config asks."""
    assert not marker.exists()
    np.load(payload, allow_pickle=True)
    assert marker.exists()


# ------------------------------------------------------------------ the gadget of the issue

def test_clean_exp_dir_loads(tmp_path):
    exp = make_exp_dir(tmp_path)
    task, cfg = load_task(exp)
    assert type(task).__name__ == "ClassificationTask" and cfg.data.sample_rate == 8000


def test_numpy_load_gadget_does_not_run(gadget_exp):
    exp, marker = gadget_exp
    with pytest.raises(UntrustedConfigError) as err:
        load_task(exp)
    assert str(err.value).startswith(
        f"{exp / MODEL_FILE}: hparams.frontend._target_ = 'numpy.load' is not allowed (allowed: "
        "torch modules, optimizers and LR schedulers from audiokit.*, torch.nn, torch.optim or "
        "torchaudio; to trust classes of your own package, set AUDIOKIT_TRUSTED_PACKAGES=")
    assert not marker.exists()
    assert_live(exp / "frontend.npy", marker)


def test_audiokit_infer_refuses_the_gadget(gadget_exp, tmp_path, capsys):
    from audiokit.cli.infer import main

    exp, marker = gadget_exp
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"u1 {data / 'u1.wav'}\n")
    with pytest.raises((SystemExit, UntrustedConfigError)) as err:
        main([f"exp_dir={exp}", f"data_dir={data}", f"output_dir={tmp_path / 'out'}"])
    shown = str(err.value) + capsys.readouterr().err
    assert "hparams.frontend._target_ = 'numpy.load' is not allowed" in shown
    assert not marker.exists() and not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the policy, case by case

@pytest.mark.parametrize("target,why", [
    ("numpy.load", REFUSED),
    ("builtins.eval", REFUSED),
    ("os.system", REFUSED),
    ("torch.load", REFUSED),                                  # torch, but not torch.nn/optim
    ("torch.nn.functional.relu", "a function, not a class"),
    ("torch.nn.functional.torch.load", "not a class"),        # reached through a module
    ("torch.nn.modules.module.OrderedDict", "resolves to collections.OrderedDict"),
    ("audiokit.inference.trials.np.load", "not a class"),     # numpy re-exported by audiokit
    ("audiokit.inference.loading.Path", "resolves to pathlib"),
    ("audiokit.inference.loading.load_task", "a function, not a class"),
    ("audiokit.no_such_module.Thing", "no class of that name"),
    ("audiokit.data.augment.AddNoise", "not a torch module"),  # reads a wav.scp: pipes
    ("audiokit.data.datamodule.AudioDataModule", "not a torch module"),
    ("audiokit.utils.errors.UserError", "not a torch module"),
    ("torchaudio.load", "not a class"),
    (["numpy.load"], "a dotted class name"),
])
def test_refused_targets(target, why):
    with pytest.raises(UntrustedConfigError, match=why):
        check_config({"model": {"_target_": target}})


@pytest.mark.parametrize("target", [
    "audiokit.frontends.LogMel", "audiokit.models.asr.ConformerEncoder", "torch.nn.Linear",
    "torch.nn.CrossEntropyLoss", "torch.optim.AdamW", "torch.optim.lr_scheduler.StepLR",
    "torchaudio.transforms.MelSpectrogram", "audiokit.optim.schedulers.NoamWarmup"])
def test_admitted_targets(target):
    check_config({"x": [{"_target_": target}]})


def test_nested_paths_and_special_keys_are_checked():
    deep = {"model": {"_target_": "audiokit.models.asr.ASRModel",
                      "encoder": {"_target_": "audiokit.models.asr.ConformerEncoder",
                                  "blocks": [{}, {"_target_": "subprocess.Popen"}]}}}
    with pytest.raises(UntrustedConfigError,
                       match=r"^hparams\.model\.encoder\.blocks\[1\]\._target_ = 'subprocess"):
        check_config(deep)
    with pytest.raises(UntrustedConfigError, match=r"hparams\.loss\._args_\[0\]\._target_"):
        check_config({"loss": {"_target_": "torch.nn.Sequential",
                               "_args_": [{"_target_": "numpy.load", "file": "x"}]}})
    with pytest.raises(UntrustedConfigError, match="_args_: must be a list"):
        check_config({"loss": {"_target_": "torch.nn.Identity", "_args_": "x"}})
    with pytest.raises(UntrustedConfigError, match="_partial_ = 'yes': must be true or false"):
        check_config({"loss": {"_target_": "torch.nn.Identity", "_partial_": "yes"}})
    with pytest.raises(UntrustedConfigError, match="_convert_ = 'exec'"):
        check_config({"loss": {"_target_": "torch.nn.Identity", "_convert_": "exec"}})
    check_config({"loss": {"_target_": "torch.nn.Identity", "_partial_": True,
                           "_recursive_": False, "_convert_": "all"}})


def test_interpolation_cannot_smuggle_a_target(tmp_path):
    """``${oc.create:...}`` makes instantiate build a config the walk never saw: refused."""
    exp = make_exp_dir(tmp_path)
    marker = tmp_path / "PWNED"
    payload = write_pickle_gadget(tmp_path / "x.npy", marker)
    smuggled = ("${oc.create:{_target_: numpy.load, file: " + str(payload)
                + ", allow_pickle: true}}")
    poison(exp, lambda hp: hp["frontend"].__setitem__("n_mels", smuggled))
    with pytest.raises(UntrustedConfigError, match=r"hparams\.frontend\.n_mels = .*interpolation"):
        load_task(exp)
    assert not marker.exists()


def test_task_class_must_be_an_audiokit_task(tmp_path):
    exp = make_exp_dir(tmp_path)
    saved = torch.load(exp / MODEL_FILE, weights_only=True)
    for name, why in [("torch.nn.Linear", "not a task class"), ("numpy.load", REFUSED),
                      ("audiokit.frontends.LogMel", "not a task class")]:
        torch.save({**saved, "task": name}, exp / MODEL_FILE)
        with pytest.raises(UntrustedConfigError, match=why):
            load_task(exp)


def test_own_packages_are_admitted_by_name_only(monkeypatch):
    with pytest.raises(UntrustedConfigError, match=TRUSTED_PACKAGES_ENV):
        check_target("collections.OrderedDict")
    mine = types.ModuleType("mylab")
    mine.Encoder = type("Encoder", (torch.nn.Module,), {"__module__": "mylab"})
    mine.Meter = type("Meter", (), {"__module__": "mylab"})
    mine.load = lambda path: path
    monkeypatch.setitem(sys.modules, "mylab", mine)
    with pytest.raises(UntrustedConfigError, match=TRUSTED_PACKAGES_ENV):
        check_target("mylab.Encoder")
    monkeypatch.setenv(TRUSTED_PACKAGES_ENV, "json, mylab")
    assert check_target("mylab.Encoder") is mine.Encoder
    with pytest.raises(UntrustedConfigError, match="not a torch module"):
        check_target("mylab.Meter")
    with pytest.raises(UntrustedConfigError, match="not a class"):
        check_target("mylab.load")


def test_a_pickle_in_model_pt_itself_is_refused(tmp_path):
    exp = make_exp_dir(tmp_path)
    marker = tmp_path / "PWNED"
    saved = torch.load(exp / MODEL_FILE, weights_only=True)
    torch.save({**saved, "extra": _Gadget(marker)}, exp / MODEL_FILE)
    with pytest.raises(UntrustedConfigError, match=r"weights_only=True\): it would call io\.open"):
        load_task(exp)
    assert not marker.exists()


# ------------------------------------------------------------------ one test per entry point

def test_lm_exp_dir_is_checked(gadget_exp):
    from audiokit.inference.speech2text import Speech2Text

    exp, marker = gadget_exp
    asr = types.SimpleNamespace(tokenizer=None, decoding={},
                                model=types.SimpleNamespace(decoder=None))
    with pytest.raises(UntrustedConfigError, match="hparams.frontend._target_ = 'numpy.load'"):
        Speech2Text(asr, 8000, decoding={"mode": "ctc_greedy"}, lm_exp_dir=str(exp))
    assert not marker.exists()


def _diarization_task(init: str | None = None):
    from audiokit.tasks.diarization import DiarizationTask

    return DiarizationTask(
        8000, 0.01,
        frontend={"_target_": "audiokit.frontends.KaldiFbank", "sample_rate": 8000, "n_mels": 8},
        model={"_target_": "audiokit.models.diarization.eend.EEND", "d_model": 8,
               "num_heads": 2, "num_layers": 1, "ff_dim": 8},
        loss={"_target_": "audiokit.losses.pit_bce.PITBCELoss"},
        optim={"_target_": "torch.optim.Adam"}, init_checkpoint=init)


def test_init_checkpoint_of_a_diarization_task(gadget_exp, tmp_path):
    exp, marker = gadget_exp
    with pytest.raises(UntrustedConfigError, match="hparams.frontend._target_ = 'numpy.load'"):
        _diarization_task(str(exp / MODEL_FILE))
    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": {}, "x": _Gadget(marker)}, pickled)
    with pytest.raises(UntrustedConfigError, match="weights_only=True"):
        _diarization_task(str(pickled))
    assert not marker.exists()


def test_init_checkpoint_of_a_whisper_task(tmp_path):
    from audiokit.models.whisper.checkpoint import CheckpointError, read_openai_checkpoint

    marker = tmp_path / "PWNED"
    path = tmp_path / "openai.pt"
    torch.save({"dims": {"n_mels": 80}, "model_state_dict": {}, "x": _Gadget(marker)}, path)
    with pytest.raises(CheckpointError, match="openai.pt: not a readable torch checkpoint"):
        read_openai_checkpoint(path)  # what WhisperTask(init_checkpoint=...) reads it with
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_model_encoder_pretrained_fairseq(tmp_path, legacy):
    """fairseq checkpoints are pickles of fairseq objects: each global they name becomes an
    inert stand-in, so a gadget in one is never called."""
    from audiokit.models.asr.wav2vec2 import read_pretrained

    marker = tmp_path / "PWNED"
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "cfg": {"model": _Gadget(marker)}, "args": None}, path,
               _use_new_zipfile_serialization=not legacy)
    try:
        read_pretrained(path)  # what Wav2Vec2Encoder(pretrained=...) reads it with
    except ValueError as e:  # a checkpoint without usable weights: named, never run
        assert str(path) in str(e)
    assert not marker.exists()
    with open(path.with_suffix(".pkl"), "wb") as f:
        pickle.dump(_Gadget(marker), f)
    pickle.loads(path.with_suffix(".pkl").read_bytes())  # the gadget is live
    assert marker.exists()


def test_model_encoder_pretrained_huggingface(tmp_path):
    from audiokit.models.asr.wav2vec2 import _read_hf_weights

    marker = tmp_path / "PWNED"
    torch.save({"x": _Gadget(marker)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(pickle.UnpicklingError):
        _read_hf_weights(tmp_path)
    assert not marker.exists()


def test_checkpoint_averaging(tmp_path):
    from audiokit.utils.averaging import average_checkpoints, best_checkpoints

    marker = tmp_path / "PWNED"
    good = {"state_dict": {"w": torch.ones(2)}, "global_step": 1,
            # a checkpoint's hparams are never built by averaging: only tensors are read
            "hyper_parameters": {"frontend": numpy_gadget(write_pickle_gadget(
                tmp_path / "p.npy", marker))}}
    torch.save(good, tmp_path / "a.ckpt")
    assert torch.equal(average_checkpoints([tmp_path / "a.ckpt"])["w"], torch.ones(2))
    torch.save({**good, "callbacks": {"x": _Gadget(marker)}}, tmp_path / "b.ckpt")
    with pytest.raises(UntrustedConfigError, match=r"b\.ckpt: refused .*io\.open"):
        average_checkpoints([tmp_path / "a.ckpt", tmp_path / "b.ckpt"])
    with pytest.raises(UntrustedConfigError, match=r"b\.ckpt: refused"):
        best_checkpoints(tmp_path, 2, "valid/acc", "max")
    assert not marker.exists()


def test_resume_reads_weights_only(tmp_path):
    from audiokit.utils.checkpoint import AtomicCheckpointIO, find_resume_checkpoint

    marker = tmp_path / "PWNED"
    torch.save({"state_dict": {}, "global_step": 3, "x": _Gadget(marker)}, tmp_path / "a.ckpt")
    assert find_resume_checkpoint(tmp_path, "auto") is None  # unreadable: skipped
    with pytest.raises(pickle.UnpicklingError):  # resume=<path>: what Lightning calls
        AtomicCheckpointIO().load_checkpoint(tmp_path / "a.ckpt")
    assert not marker.exists()


# ------------------------------------------------------------------ shipped configs

HPARAM_GROUPS = ("task", "frontend", "model", "loss", "optim", "scheduler")


def _experiments() -> list[str]:
    root = PACKAGE / "conf" / "experiment"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


@pytest.mark.parametrize("experiment", _experiments())
def test_shipped_experiments_pass_the_allowlist(experiment, tmp_path):
    """What audiokit-train saves in model.pt (task, frontend, model, loss, optim, scheduler
    of the composed experiment) loads back through the allowlist."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from audiokit.cli.train import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}",
                                          f"paths.data_root={tmp_path}",
                                          f"exp_dir={tmp_path}/exp"])
    for group in HPARAM_GROUPS:
        node = cfg.get(group)
        if node is not None:
            check_config(OmegaConf.to_container(node, resolve=True), f"{experiment}: {group}")


def test_every_shipped_target_of_the_saved_groups_passes():
    """Also the options no experiment picks: every YAML of the groups model.pt stores."""
    def targets(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from [value] if key == "_target_" else targets(value)
        elif isinstance(node, list):
            for value in node:
                yield from targets(value)

    seen = set()
    # discriminator: GAN tasks take it inside their task config
    for group in HPARAM_GROUPS + ("discriminator", "experiment"):
        for path in (PACKAGE / "conf" / group).rglob("*.yaml"):
            doc = yaml.safe_load(path.read_text()) or {}
            parts = [doc.get(g) for g in HPARAM_GROUPS] if group == "experiment" else [doc]
            for name in targets(parts):
                check_target(name, f"{path}: _target_")
                seen.add(name)
    assert "audiokit.models.asr.ASRModel" in seen and "torch.optim.Adam" in seen


# ------------------------------------------------------------------ no unsafe load remains

# The one place allowed to forward a caller's weights_only choice instead of a literal True:
# Lightning's resume of a run's checkpoints (trainer.fit(ckpt_path=...)) reads through it, and
# it defaults to weights_only=True.
TRUSTED_RESUME_PATH = {("utils/checkpoint.py", "AtomicCheckpointIO.load_checkpoint")}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _dotted(node.func) + "()"
    return "?"


def _calls_with_scope(tree: ast.AST):
    """(call, qualified name of the function it is in) for every call in a module."""
    def walk(node, scope):
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            if isinstance(child, ast.Call):
                yield child, scope
            yield from walk(child, inner)
    yield from walk(tree, "")


def test_no_load_without_weights_only():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text(), filename=str(path))
        for call, scope in _calls_with_scope(tree):
            name = _dotted(call.func)
            short = name.rsplit(".", 1)[-1]
            kw = {k.arg: k.value for k in call.keywords if k.arg}
            where = f"audiokit/{rel}:{call.lineno} ({scope or 'module'}): {name}(...)"
            trusted = (rel, scope) in TRUSTED_RESUME_PATH
            if "weights_only" in kw:
                value = kw["weights_only"]
                literal_true = isinstance(value, ast.Constant) and value.value is True
                if not literal_true and not trusted:
                    problems.append(f"{where} with weights_only={ast.unparse(value)}")
            elif name in ("torch.load", "torch.serialization.load"):
                problems.append(f"{where} without weights_only=True")
            elif short in ("load", "loads") and name.split(".")[0] in (
                    "pickle", "dill", "joblib", "cloudpickle", "marshal"):
                problems.append(f"{where}: unpickles")
            if short == "load" and name.split(".")[0] in ("np", "numpy"):
                pickle_kw = kw.get("allow_pickle")
                if not (isinstance(pickle_kw, ast.Constant) and pickle_kw.value is False):
                    problems.append(f"{where} without allow_pickle=False")
    assert not problems, "\n".join(problems)


def test_the_trusted_resume_path_defaults_to_weights_only(tmp_path):
    from audiokit.utils.checkpoint import AtomicCheckpointIO

    seen = {}
    io = AtomicCheckpointIO()
    torch.save({"a": 1}, tmp_path / "x.ckpt")
    real = torch.load
    with pytest.MonkeyPatch.context() as m:
        m.setattr(torch, "load", lambda *a, **k: seen.update(k) or real(*a, **k))
        assert io.load_checkpoint(tmp_path / "x.ckpt") == {"a": 1}
    assert seen["weights_only"] is True


def test_the_inference_pipeline_a_model_file_names_is_checked(tmp_path):
    """The GAN task takes its pipeline's class name as a hyperparameter, which audiokit-infer
    builds with the task: a model file naming any other class is refused before anything is
    built."""
    exp = make_exp_dir(tmp_path)
    saved = torch.load(exp / MODEL_FILE, weights_only=True)
    for name in ("subprocess.Popen", "audiokit.utils.trusted_config.UntrustedConfigError",
                 "audiokit.inference.nope.Missing"):
        torch.save({**saved, "hparams": {**saved["hparams"], "inference": name}}, exp / MODEL_FILE)
        with pytest.raises(UntrustedConfigError, match=r"hparams\.inference"):
            load_task(exp)
    assert check_pipeline("audiokit.inference.vocode.Vocoder").__name__ == "Vocoder"

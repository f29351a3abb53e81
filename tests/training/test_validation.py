"""Every bad value is refused before any work: :func:`initlab.training.spec.build` (called by
the Hydra callback before the run folder exists, and by the sweeper for every job before any
starts) raises :class:`ConfigError` naming the key and the value; through ``python train.py``
that is one line on stderr, exit status 2 and no folder. By subject: each group's values, the
root keys, where the job runs, the callback itself, the command line. The launchers' settings:
``tests/config/test_launcher_settings.py``."""

from __future__ import annotations

import re
import typing

import pytest
import torch
from conftest import QUICK, hydra_cfg, make_cfg, train
from lightning_fabric.connector import _PRECISION_INPUT

from initlab.config.errors import ConfigError
from initlab.config.launcher_settings import runs_remotely
from initlab.data import readers
from initlab.training import spec as config
from initlab.training.spec import ValidateBeforeRun, build

NO_GPU = not torch.cuda.is_available()

# ----------------------------------------------------------------------------------------------
# Each group's values, in-process.

REFUSED_DATASET = [
    # the validation split would leave no training example (digits: 1797 - 360 = 1437)
    (["dataset=digits", "dataset.val_size=1437"], "dataset.val_size", "1437"),
    (
        ["dataset=digits", "dataset.test_size=1700", "dataset.val_size=97"],
        "dataset.val_size",
        "97",
    ),
    (["dataset.val_size=60000"], "dataset.val_size", "60000"),  # fashion_mnist
    (["dataset.train_size=0"], "dataset.train_size", "0"),
    (["dataset.train_size=many"], "dataset.train_size", "'many'"),
    # digits: 1797 - 360 test - 180 validation = 1257 left to train on
    (["dataset=digits", "dataset.train_size=1258"], "dataset.train_size", "1258"),
    (["dataset.train_size=55001"], "dataset.train_size", "55001"),  # fashion_mnist
    (["dataset=mnist", "dataset.val_size=60000"], "dataset.val_size", "60000"),
    (["dataset=cifar10", "model=cnn", "dataset.val_size=50000"], "dataset.val_size", "50000"),
    (
        ["dataset=gaussian", "dataset.n_train=500", "dataset.val_size=500"],
        "dataset.val_size",
        "500",
    ),
    # gaussian: non-finite separation, a data_seed that is not an integer in range
    (["dataset=gaussian", "dataset.separation=nan"], "dataset.separation", "nan"),
    (["dataset=gaussian", "dataset.separation=inf"], "dataset.separation", "inf"),
    (["dataset=gaussian", "dataset.data_seed=abc"], "dataset.data_seed", "'abc'"),
    (["dataset=gaussian", "dataset.data_seed=1.5"], "dataset.data_seed", "1.5"),
    (["dataset=gaussian", "dataset.data_seed=-1"], "dataset.data_seed", "-1"),
    (
        ["dataset=gaussian", "dataset.data_seed=9223372036854775808"],
        "dataset.data_seed",
        "9223372036854775808",
    ),
    (["dataset.data_dir=/nonexistent"], "dataset.data_dir", "'/nonexistent'"),
    (["dataset=cifar10", "dataset.data_dir=''"], "dataset.data_dir", "''"),
]
REFUSED_SEED = [
    (["seed=4294967296"], "seed", "4294967296"),
    (["seed=1.5"], "seed", "1.5"),
]
REFUSED_TRAINER = [
    # trainer: values Lightning refuses (after the folder exists) or runs wrongly
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps", "0"),
    (["+trainer.limit_train_batches=0"], "trainer.limit_train_batches", "0"),
    (["+trainer.limit_val_batches=0"], "trainer.limit_val_batches", "0"),
    (["+trainer.limit_test_batches=0"], "trainer.limit_test_batches", "0"),
    (["+trainer.limit_test_batches=-1"], "trainer.limit_test_batches", "-1"),
    (["+trainer.limit_train_batches=1.5"], "trainer.limit_train_batches", "1.5"),
    (["+trainer.limit_train_batches=0.0"], "trainer.limit_train_batches", "0.0"),
    (["+trainer.limit_train_batches=abc"], "trainer.limit_train_batches", "'abc'"),
    (
        ["dataset=digits", "+trainer.limit_train_batches=0.001"],
        "trainer.limit_train_batches",
        "0.001",
    ),
    (["trainer.precision=banana"], "trainer.precision", "'banana'"),
    (["trainer.devices=0"], "trainer.devices", "0"),
    (["trainer.devices=-1"], "trainer.devices", "-1"),  # on the CPU: a positive count
    (["trainer.accelerator=banana"], "trainer.accelerator", "'banana'"),
    (["+trainer.strategy=banana"], "trainer.strategy", "'banana'"),
    (["+trainer.max_steps=0"], "trainer.max_steps", "0"),
    (["+trainer.check_val_every_n_epoch=0"], "trainer.check_val_every_n_epoch", "0"),
    (["+trainer.val_check_interval=0"], "trainer.val_check_interval", "0"),
    (
        ["dataset=digits", "+trainer.val_check_interval=1000"],
        "trainer.val_check_interval",
        "1000",
    ),
    (["+trainer.max_time=abc"], "trainer.max_time", "'abc'"),
    (["+trainer.profiler=abc"], "trainer.profiler", "'abc'"),
    (["+trainer.detect_anomaly=abc"], "trainer.detect_anomaly", "'abc'"),
    (["+trainer.deterministic=abc"], "trainer.deterministic", "'abc'"),
    (["+trainer.default_root_dir=x"], "trainer.default_root_dir", "'x'"),
    (["+trainer.enable_model_summary=false"], "trainer.enable_model_summary", "False"),
    (["+trainer.fast_dev_run=true"], "trainer.fast_dev_run", "True"),
    (["+trainer.barebones=true"], "trainer.barebones", "True"),
]
REFUSED_LOGGER = [
    (["logger.flush_secs=0"], "logger.flush_secs", "0"),
    (["logger.flush_secs=-1"], "logger.flush_secs", "-1"),
    (["logger.max_queue=abc"], "logger.max_queue", "'abc'"),
    (["logger.max_queue=0"], "logger.max_queue", "0"),
    (["logger.log_graph=abc"], "logger.log_graph", "'abc'"),
    (["+logger.foo=1"], "logger.foo", "1"),
    (["+logger.prefix=x"], "logger.prefix", "'x'"),  # would rename every tag
]
REFUSED_DIAGNOSTICS_AND_MODEL = [
    # diagnostics.stats that is not a list (a TypeError inside the callback before)
    (["diagnostics.stats=5"], "diagnostics.stats", "5"),
    (["model.hidden=abc"], "model.hidden", "'abc'"),  # not ['a', 'b', 'c']
    # a key the init does not take is echoed as typed, not as the gain it would resolve to
    (["init=normal", "+init.gain=auto"], "init.gain", "'auto'"),
]
REFUSED = [
    *REFUSED_DATASET,
    *REFUSED_SEED,
    *REFUSED_TRAINER,
    *REFUSED_LOGGER,
    *REFUSED_DIAGNOSTICS_AND_MODEL,
]


@pytest.mark.parametrize("overrides,key,value", REFUSED)
def test_refused_in_validation(overrides, key, value):
    with pytest.raises(ConfigError) as err:
        build(make_cfg(*overrides))
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}={value}: ")


@pytest.mark.parametrize(
    "overrides,listed",
    [
        # the keys every option of the group shares are listed with the option's own
        (["dataset=digits", "+dataset.batchsize=10"], "batch_size"),
        (["+dataset.batchsize=10"], "val_size"),
        (["init=default", "+init.gian=2"], "bias"),
        (["init=he", "+init.gian=2"], "forget_bias"),
    ],
)
def test_an_unknown_key_lists_the_shared_keys_too(overrides, listed):
    with pytest.raises(ConfigError) as err:
        build(make_cfg(*overrides))
    assert err.value.reason.startswith("unknown key (accepted: ")
    assert listed in err.value.reason.split("(accepted: ")[1]


@pytest.mark.parametrize(
    "overrides",
    [
        ["dataset=digits", "dataset.val_size=1436"],
        ["dataset.val_size=59999"],
        ["dataset=gaussian", "dataset.separation=2", "dataset.data_seed=7"],
        ["seed=4294967295"],
        ["+trainer.limit_train_batches=0.5", "+trainer.limit_val_batches=2"],
        ["+trainer.limit_test_batches=1.0", "+trainer.overfit_batches=0"],
        ["trainer.log_every_n_steps=null", "+trainer.max_steps=-1"],
        ["trainer.devices=auto", "trainer.accelerator=auto", "+trainer.strategy=auto"],
        ["+trainer.max_time=00:00:10:00", "+trainer.val_check_interval=0.5"],
        ["+trainer.deterministic=warn", "+trainer.profiler=simple"],
        ["logger.flush_secs=1", "logger.max_queue=1", "+logger.filename_suffix=.x"],
    ],
)
def test_good_values_still_pass(overrides):
    build(make_cfg(*overrides))


def test_every_precision_lightning_accepts_passes():
    values = [
        v
        for literal in typing.get_args(_PRECISION_INPUT)
        for v in typing.get_args(literal)
        if not str(v).startswith("transformer-engine")  # needs NVIDIA's package
    ]
    assert "bf16-mixed" in values and 32 in values
    for value in values:
        build(make_cfg(f"trainer.precision={value}"))


# ----------------------------------------------------------------------------------------------
# The root keys.


@pytest.mark.parametrize(
    "overrides,key,reason",
    [
        (["+sed=1"], "sed", "unknown key (accepted: "),  # seed, misspelled
        (["+diagnostic.enabled=false"], "diagnostic", "unknown key"),
        (["+val_dropuot=true"], "val_dropuot", "unknown key"),
        (["+probe.bins=5"], "probe", "the probe's settings: python -m initlab.probe"),
    ],
)
def test_an_unknown_top_level_key_is_refused(overrides, key, reason):
    with pytest.raises(ConfigError) as err:
        ValidateBeforeRun().check(hydra_cfg(*overrides))
    assert err.value.key == key and err.value.reason.startswith(reason)


# ----------------------------------------------------------------------------------------------
# Where the job runs: this machine's devices and paths, or a cluster's nodes.


@pytest.mark.skipif(not NO_GPU, reason="a GPU is visible")
def test_gpu_trainer_refused_without_a_gpu_unless_the_jobs_run_elsewhere():
    cfg = make_cfg("trainer=gpu")
    with pytest.raises(ConfigError, match=r"^trainer.accelerator='gpu': no GPU visible"):
        build(cfg)
    build(cfg, local_devices=False)  # e.g. a SLURM job: its node checks again in run()

    # The callback and the sweeper decide from the launcher: SLURM runs the jobs elsewhere.
    slurm = hydra_cfg("trainer=gpu", "hydra/launcher=submitit_slurm")
    assert runs_remotely(slurm)
    ValidateBeforeRun().check(slurm)
    for launcher in ("joblib", "submitit_local"):
        local = hydra_cfg("trainer=gpu", f"hydra/launcher={launcher}")
        assert not runs_remotely(local)
        with pytest.raises(ConfigError, match="trainer.accelerator"):
            ValidateBeforeRun().check(local)


def test_a_data_dir_on_the_compute_nodes_is_checked_there(tmp_path):
    # /scratch of a cluster's nodes need not exist where the sweep is submitted
    nodes_only = str(tmp_path / "only-on-the-nodes")
    overrides = ("dataset=mnist", f"dataset.data_dir={nodes_only}")
    with pytest.raises(ConfigError, match=r"^dataset.data_dir=.*no such folder"):
        ValidateBeforeRun().check(hydra_cfg(*overrides))
    ValidateBeforeRun().check(hydra_cfg(*overrides, "hydra/launcher=submitit_slurm"))
    with pytest.raises(ConfigError, match=r"^dataset.data_dir="):  # the job, on its node
        build(make_cfg(*overrides))


def test_a_missing_dataset_is_refused_before_the_run_and_tried_once(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    tried = []

    def offline(name, root):
        tried.append(name)
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(readers, "_download", offline)
    monkeypatch.setattr(readers, "_unavailable", {})
    overrides = ("dataset=mnist", f"dataset.data_dir={empty}")
    for _ in range(2):  # a sweep's jobs over one dataset: one download tried
        with pytest.raises(ConfigError) as refused:
            ValidateBeforeRun().check(hydra_cfg(*overrides))
        message = str(refused.value)
        assert message.startswith("dataset.name='mnist': no copy found")
        assert f"dataset.data_dir=<a folder holding the files> (tried: {empty}" in message
        assert "name resolution" in message and "dataset=digits" in message
    assert tried == ["mnist"]
    ValidateBeforeRun().check(hydra_cfg(*overrides, "hydra/launcher=submitit_slurm"))  # its node


@pytest.mark.slow
def test_a_missing_dataset_exits_2_in_one_line_with_no_folder(tmp_path, monkeypatch):
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):  # offline, at once
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    empty = tmp_path / "mnist"
    empty.mkdir()
    run_dir = tmp_path / "run"
    proc = _train(
        tmp_path, "dataset=mnist", f"dataset.data_dir={empty}", f"hydra.run.dir={run_dir}"
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initlab: invalid config: dataset.name='mnist'")
    assert not run_dir.exists() and list(empty.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# The Hydra callback.


def test_an_unexpected_error_in_the_check_still_stops_the_run(monkeypatch, capsys):
    """Hydra turns an exception raised by a callback into a warning and runs the job anyway
    (hydra/_internal/callbacks.py); the callback must exit itself, status 2, one line."""
    from hydra._internal.callbacks import Callbacks

    def broken(cfg, **kwargs):
        raise ValueError("a bug\nover two lines")

    monkeypatch.setattr(config, "build", broken)
    cfg = hydra_cfg()
    with pytest.raises(SystemExit) as stop:
        Callbacks(cfg).on_run_start(config=cfg, config_name="config")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initlab: invalid config: ")
    assert "ValueError: a bug over two lines" in err


# ----------------------------------------------------------------------------------------------
# The command line: exit 2, the key and value on stderr, no folder.


def _train(tmp_path, *overrides):
    return train(tmp_path, *overrides, timeout=120)


# One run per distinct path (the rest go through the same callback as in-process build above):
# a ConfigError from the datamodule, one that was a non-ConfigError before (Hydra turned it into
# a warning and ran), the path check, and the device check on this machine.
@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,shown",
    [
        (["dataset.val_size=5000"], "dataset.val_size=5000: must be < the 1437 training examples"),
        (["dataset=gaussian", "dataset.data_seed=abc"], "dataset.data_seed='abc'"),
        (
            ["dataset=fashion_mnist", "dataset.data_dir=/nonexistent"],
            "dataset.data_dir='/nonexistent': no such folder",
        ),
        pytest.param(
            ["trainer=gpu"],
            "trainer.accelerator='gpu': no GPU visible",
            marks=pytest.mark.skipif(not NO_GPU, reason="a GPU is visible"),
        ),
    ],
)
def test_train_exits_2_before_the_run_folder_exists(tmp_path, overrides, shown):
    run_dir = tmp_path / "run"
    proc = _train(tmp_path, *QUICK, *overrides, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2, proc.stderr
    assert f"initlab: invalid config: {shown}" in proc.stderr
    assert not run_dir.exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_sweep_lists_the_bad_job_and_starts_none(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = _train(
        tmp_path,
        "-m",
        "dataset=digits",
        "dataset.val_size=100,5000",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert proc.returncode == 2, proc.stderr
    assert "invalid config in 1 of 2 jobs; none started" in proc.stderr
    assert "dataset=digits dataset.val_size=5000: dataset.val_size=5000: must be <" in proc.stderr
    assert not sweep_dir.exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
@pytest.mark.skipif(not NO_GPU, reason="a GPU is visible")
def test_sweep_on_the_gpus_launcher_without_a_gpu(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = _train(tmp_path, "-m", "hydra/launcher=gpus", *QUICK, f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 2, proc.stderr
    assert "hydra.launcher.n_jobs=0: no GPU visible" in proc.stderr
    assert not sweep_dir.exists()


@pytest.mark.slow
def test_a_sweep_with_no_job_exits_2_and_makes_no_folder(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = _train(tmp_path, "-m", *QUICK, "seed=range(0,0)", f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "initlab: the sweep has no jobs" in proc.stderr
    assert not sweep_dir.exists()


# ----------------------------------------------------------------------------------------------
# Hints lead to a working command: a refusal's "use …" is followed, as a user would, until the
# config passes the same check a run (or a dry run) makes.


def _follow(overrides: list[str], hops: int = 3) -> list[str]:
    for _ in range(hops):
        try:
            ValidateBeforeRun().check(hydra_cfg(*overrides))
            return overrides
        except ConfigError as err:
            hint = re.search(r": use (model[=.][^(]*?)(?: \(|$)", str(err))
            assert hint, f"{' '.join(overrides)}: a refusal without a hint to follow: {err}"
            overrides = [*overrides, *hint.group(1).split()]
    raise AssertionError(f"{' '.join(overrides)}: still refused after {hops} hints")


@pytest.mark.parametrize(
    "start",
    [[f"init={n}"] for n in ("fixup", "skipinit", "zero_gamma", "gpt2", "t_fixup", "irnn")]
    + [["init=t_fixup", "model=resnet"], ["init=fixup", "model=resnet"]]
    + [["init=zero_gamma", "model=resnet", "model.norm=none"]],
    ids=lambda o: " ".join(o),
)
def test_a_refusals_hint_leads_to_a_command_that_passes(start):
    followed = _follow(start)
    assert len(followed) > len(start)  # it was refused, and the hint fixed it
    if start == ["init=t_fixup"] or start == ["init=gpt2"]:
        assert "model=vit" in followed  # made for transformers


@pytest.mark.parametrize(
    "overrides, owners, works",
    [
        (["+model.depth=20"], "model=deep_mlp, model=resnet, model=vit", ["model=deep_mlp"]),
        (["+optimizer.momentum=0.9"], "optimizer=sgd", ["optimizer=sgd"]),
    ],
)
def test_a_key_of_another_option_says_which_options_take_it(overrides, owners, works):
    with pytest.raises(ConfigError) as err:
        build(make_cfg(*overrides))
    assert str(err.value).endswith(f"; it is a key of {owners}")
    key, value = overrides[0].lstrip("+").split("=")
    build(make_cfg(*works, f"{key}={value}"))  # following it works

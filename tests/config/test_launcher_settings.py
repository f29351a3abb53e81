"""A sweep's launcher and sweeper settings (:mod:`initlab.config.launcher_settings`), checked
with the grid before any job or folder: the basic, joblib, gpus, population and SLURM
launchers, each bad value named by its key."""

from __future__ import annotations

import pytest
import torch
from conftest import hydra_cfg

from initlab.config.errors import ConfigError
from initlab.config.launcher_settings import check_launcher

NO_GPU = not torch.cuda.is_available()


@pytest.mark.skipif(not NO_GPU, reason="a GPU is visible")
def test_gpus_launcher_refused_without_a_gpu():
    with pytest.raises(ConfigError) as err:
        check_launcher(hydra_cfg("hydra/launcher=gpus").hydra)
    assert str(err.value).startswith("hydra.launcher.n_jobs=0: no GPU visible")


def test_launcher_and_sweeper_settings():
    check_launcher(hydra_cfg().hydra)  # the basic launcher: nothing to check
    check_launcher(hydra_cfg("hydra/launcher=joblib").hydra)  # n_jobs -1: one per core
    with pytest.raises(ConfigError, match="^hydra.launcher.n_jobs=0: must be a non-zero integer"):
        check_launcher(hydra_cfg("hydra/launcher=joblib", "hydra.launcher.n_jobs=0").hydra)
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.max_batch_size=-1: "):
        check_launcher(hydra_cfg("hydra.sweeper.max_batch_size=-1").hydra)


@pytest.mark.parametrize(
    "setting,shown",
    [
        ("hydra.launcher.prefer=bananas", "hydra.launcher.prefer='bananas': must be one of"),
        ("hydra.launcher.batch_size=0", "hydra.launcher.batch_size='0': must be 'auto' or"),
        ("hydra.launcher.pre_dispatch=garbage", "hydra.launcher.pre_dispatch='garbage': must be"),
        ("hydra.launcher.timeout=-1", "hydra.launcher.timeout=-1.0: must be a number of seconds"),
        ("hydra.launcher.backend=warp", "hydra.launcher.backend='warp': the joblib launcher runs"),
        ("+hydra.launcher.n_job=2", "hydra.launcher.n_job=2: unknown key (accepted: "),
        ("hydra.launcher.verbose=-1", "hydra.launcher.verbose=-1: must be an integer ≥ 0"),
    ],
)
def test_bad_joblib_settings_are_refused(setting, shown):
    with pytest.raises(ConfigError) as err:
        check_launcher(hydra_cfg("hydra/launcher=joblib", setting).hydra)
    assert str(err.value).startswith(shown)


def test_an_unknown_population_setting_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"^hydra.launcher.max_member=3: unknown key "
        r"\(accepted: max_members, n_jobs, compile\)",
    ):
        check_launcher(hydra_cfg("hydra/launcher=population", "+hydra.launcher.max_member=3").hydra)


def test_good_joblib_settings_pass():
    for setting in (
        "hydra.launcher.prefer=threads",
        "hydra.launcher.batch_size=auto",
        "hydra.launcher.batch_size=4",
        "hydra.launcher.pre_dispatch=all",
        "hydra.launcher.pre_dispatch=3*n_jobs",
        "hydra.launcher.pre_dispatch=8",
        "hydra.launcher.timeout=60",
        "hydra.launcher.backend=loky",
    ):
        check_launcher(hydra_cfg("hydra/launcher=joblib", setting).hydra)
    check_launcher(hydra_cfg("hydra/launcher=gpus").hydra if not NO_GPU else hydra_cfg().hydra)


@pytest.mark.parametrize(
    "setting,shown",
    [
        ("hydra.launcher.timeout_min=-5", "hydra.launcher.timeout_min=-5: must be"),
        ("hydra.launcher.timeout_min=0", "hydra.launcher.timeout_min=0: must be"),
        ("hydra.launcher.cpus_per_task=0", "hydra.launcher.cpus_per_task=0: must be"),
        ("hydra.launcher.mem_gb=-1", "hydra.launcher.mem_gb=-1: must be"),
        ("hydra.launcher.nodes=0", "hydra.launcher.nodes=0: must be"),
        ("hydra.launcher.tasks_per_node=0", "hydra.launcher.tasks_per_node=0: must be"),
        ("hydra.launcher.gpus_per_node=-1", "hydra.launcher.gpus_per_node=-1: must be"),
        ("hydra.launcher.array_parallelism=0", "hydra.launcher.array_parallelism=0: must be"),
        ("hydra.launcher.max_num_timeout=-1", "hydra.launcher.max_num_timeout=-1: must be"),
        ("hydra.launcher.signal_delay_s=-1", "hydra.launcher.signal_delay_s=-1: must be"),
        ("+hydra.launcher.cpu_per_task=2", "hydra.launcher.cpu_per_task=2: unknown key"),
    ],
)
def test_bad_slurm_settings_are_refused_before_sbatch(setting, shown):
    """sbatch refused these after the sweep folder existed (or, timeout_min=-5, ran the job
    with no limit); each is now refused with the grid."""
    for launcher in ("submitit_slurm", "submitit_slurm_cpu"):
        with pytest.raises(ConfigError) as err:
            check_launcher(hydra_cfg(f"hydra/launcher={launcher}", setting).hydra)
        assert str(err.value).startswith(shown)
    check_launcher(hydra_cfg("hydra/launcher=submitit_slurm_cpu").hydra)  # as shipped
    check_launcher(hydra_cfg("hydra/launcher=submitit_slurm").hydra)

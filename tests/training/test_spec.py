"""Every option of every group composes and builds; every bad value fails before any work,
naming the key and the value."""

from __future__ import annotations

import subprocess

import pytest
import torch
from conftest import QUICK, groups_options, make_cfg

from initlab.config.errors import ConfigError, NotApplicable
from initlab.config.hydra_conf import GROUPS as RUN_GROUPS
from initlab.initializers import apply
from initlab.training.spec import build

GROUPS = [*RUN_GROUPS, "experiment"]


def test_every_group_has_its_options():
    assert set(groups_options("trainer")) == {"cpu", "gpu", "ddp"}
    assert set(groups_options("optimizer")) == {"adam", "sgd"}
    assert set(groups_options("model")) == {
        "mlp",
        "deep_mlp",
        "cnn",
        "rnn",
        "resnet",
        "vit",
        "custom",
    }
    assert set(groups_options("dataset")) == {
        "fashion_mnist",
        "mnist",
        "cifar10",
        "digits",
        "gaussian",
    }
    assert set(groups_options("logger")) == {"tensorboard"}
    assert set(groups_options("parametrization")) == {"sp", "mup"}


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in GROUPS for o in groups_options(g)],
)
def test_option_composes_builds_and_runs_a_forward_pass(group, option):
    # cnn needs image input: pair it with an image dataset; gaussian is flat: pair it with mlp.
    # irnn sets recurrent matrices: pair it with the rnn.
    extra = {
        "gaussian": ["model=mlp"],
        "irnn": ["model=rnn"],
        "zero_gamma": ["model=resnet"],
        "fixup": ["model=resnet", "model.norm=none"],
        "skipinit": ["model=resnet"],
        "gpt2": ["model=vit"],
        "t_fixup": ["model=vit", "model.norm=none"],
    }
    extra = extra.get(option, [])
    cfg = make_cfg(f"{group}={option}", *extra)
    spec = build(cfg, local_devices=False)  # trainer=gpu and ddp: this machine may have no GPU
    net = spec.make_net()
    apply(spec.initializer, net, cfg.seed)
    x = torch.randn(4, *spec.datamodule.dataset.in_shape)
    net.eval()
    assert net(x).shape == (4, spec.datamodule.dataset.num_classes)


# The pairs that cannot work, refused with the key named.
REFUSED = {
    ("sparse", "cnn"): r"init.k=15: .*fan_in 9",  # the first conv has fan_in 1·3·3 = 9 < k
    ("dbn", "cnn"): r"init.name='dbn': pretrains Linear layers",  # RBMs need an MLP
    ("dbn", "rnn"): r"init.name='dbn': pretrains Linear layers",
    ("lsuv", "rnn"): r"init.name='lsuv': rescales .* RNN at rnn is not one",
    ("data_dependent", "rnn"): r"init.name='data_dependent': rescales .* RNN at rnn",
    **{  # irnn sets hidden-to-hidden matrices: refused where there are none
        ("irnn", model): r"init.name='irnn': sets the hidden-to-hidden matrices"
        for model in ("mlp", "deep_mlp", "cnn", "custom", "resnet")
    },
    **{  # residual inits work on residual branches: refused where there are none
        (init, model): rf"init.name='{init}': works on residual branches"
        for init in ("zero_gamma", "fixup", "skipinit", "gpt2", "t_fixup")
        for model in ("mlp", "deep_mlp", "cnn", "custom", "rnn")
    },
    # Fixup's scalars take the place of normalization: the batch-normalized resnet is refused
    ("fixup", "resnet"): r"init.name='fixup': trains without normalization, .* BatchNorm2d ",
    ("dbn", "resnet"): r"init.name='dbn': pretrains Linear layers",
    ("t_fixup", "resnet"): r"init.name='t_fixup': trains without normalization, .* BatchNorm2d",
    **{  # the default vit has LayerNorm; fixup also needs two layers per branch (attention: 1)
        (init, "vit"): rf"init.name='{init}': trains without normalization, .* LayerNorm "
        for init in ("fixup", "t_fixup")
    },
    ("irnn", "vit"): r"init.name='irnn': sets the hidden-to-hidden matrices",
    ("dbn", "vit"): r"init.name='dbn': pretrains Linear layers",
    ("lsuv", "vit"): r"init.name='lsuv': rescales .* Attention at 2.branch.1.attn",
    ("data_dependent", "vit"): r"init.name='data_dependent': rescales .* Embedding at 1.table",
    ("sparse", "resnet"): r"init.k=15: .*fan_in 9",  # the stem conv: fan_in 1·3·3 = 9 < k
}


def test_every_init_with_every_model_plans():
    for model in groups_options("model"):
        for init in groups_options("init"):
            if (init, model) in REFUSED:
                with pytest.raises(ConfigError, match=REFUSED[init, model]):
                    build(make_cfg(f"init={init}", f"model={model}"))
                continue
            build(make_cfg(f"init={init}", f"model={model}"))


@pytest.mark.parametrize(
    "overrides,key,value",
    [
        (["init=normal", "init.std=0"], "init.std", "0"),
        (["init=normal", "init.std=-1"], "init.std", "-1"),
        (["init=trunc_normal", "init.std=-0.1"], "init.std", "-0.1"),
        (["init=uniform", "init.a=1", "init.b=0"], "init.a", "1"),
        (["init=uniform", "init.a=0.5", "init.b=0.5"], "init.a", "0.5"),
        (["init=variance_scaling", "init.mode=fan_mean"], "init.mode", "'fan_mean'"),
        (["init=variance_scaling", "init.distribution=cauchy"], "init.distribution", "'cauchy'"),
        (["init=variance_scaling", "init.scale=0"], "init.scale", "0"),
        (["init=he", "init.gain=-1"], "init.gain", "-1"),
        (["init=he", "init.bias=uniform"], "init.bias", "'uniform'"),
        (["init=sparse", "init.k=100", "dataset=digits"], "init.k", "100"),  # digits fan_in is 64
        (["init=sparse", "init.k=0"], "init.k", "0"),
        (["model.hidden=[]"], "model.hidden", "[]"),
        (["model.hidden=[256,0]"], "model.hidden", "[256, 0]"),
        (["model.hidden=[256,-3]"], "model.hidden", "[256, -3]"),
        (["model=deep_mlp", "model.depth=0"], "model.depth", "0"),
        (["model.dropout=1.0"], "model.dropout", "1.0"),
        (["model.dropout=-0.1"], "model.dropout", "-0.1"),
        (["model=cnn", "dataset=gaussian"], "model.name", "'cnn'"),
        (["optimizer.lr=0"], "optimizer.lr", "0"),
        (["optimizer=sgd", "optimizer.lr=-0.1"], "optimizer.lr", "-0.1"),
        (["optimizer=sgd", "optimizer.momentum=1.5"], "optimizer.momentum", "1.5"),
        (
            ["activation=leaky_relu", "activation.negative_slope=-1"],
            "activation.negative_slope",
            "-1",
        ),
        (["dataset.batch_size=0"], "dataset.batch_size", "0"),
        (["dataset.normalize=zscore"], "dataset.normalize", "'zscore'"),
        (["trainer.max_epochs=0"], "trainer.max_epochs", "0"),
        (["seed=-1"], "seed", "-1"),
        (["+init.foo=1"], "init.foo", "1"),
        (["+model.widths=[3]"], "model.widths", "[3]"),
        (["+trainer.max_epoch=3"], "trainer.max_epoch", "3"),
        (["+trainer.gradient_clip_val=1.0"], "trainer.gradient_clip_val", "1.0"),
        (["diagnostics.every_n_steps=0"], "diagnostics.every_n_steps", "0"),
        (["diagnostics.images_every_n_steps=-5"], "diagnostics.images_every_n_steps", "-5"),
        (["diagnostics.stats=[weights,biases]"], "diagnostics.stats", "['weights', 'biases']"),
        (["diagnostics.stats=[]"], "diagnostics.stats", "[]"),
        (["diagnostics.histograms=sometimes"], "diagnostics.histograms", "'sometimes'"),
        (["diagnostics.enabled=maybe"], "diagnostics.enabled", "'maybe'"),
        (["+diagnostics.every=3"], "diagnostics.every", "3"),
        (["+trainer.accumulate_grad_batches=4"], "trainer.accumulate_grad_batches", "4"),
    ],
)
def test_bad_value_names_key_and_value(overrides, key, value):
    with pytest.raises(ConfigError) as err:
        build(make_cfg(*overrides))
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}={value}")


def _run(cmd, tmp_path, *overrides):
    return subprocess.run(
        [*cmd, *overrides], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_bad_value_exits_2_before_any_folder_is_created(train_cmd, tmp_path):
    proc = _run(train_cmd, tmp_path, *QUICK, "init=normal", "init.std=-1")
    assert proc.returncode == 2
    assert "init.std=-1" in proc.stderr and "must be > 0" in proc.stderr
    assert not (tmp_path / "logs").exists()


# Exit codes (docs/validation.md): Hydra's own refusals (an unknown option or key) exit 1;
# initlab's refusal of a value exits 2 (test_bad_value_exits_2_before_any_folder_is_created).
def test_unknown_option_lists_the_options(train_cmd, tmp_path):
    proc = _run(train_cmd, tmp_path, "init=kaiming")
    assert proc.returncode == 1
    assert "Could not find 'init/kaiming'" in proc.stderr
    assert "he_uniform" in proc.stderr  # Hydra lists the available options
    assert not (tmp_path / "logs").exists()


def test_unknown_key_is_refused(train_cmd, tmp_path):
    proc = _run(train_cmd, tmp_path, "model.hiden=[10]")
    assert proc.returncode == 1
    assert "hiden" in proc.stderr
    assert not (tmp_path / "logs").exists()


# The inits made for other models: on the default MLP they do not apply (a sweep over
# init='glob(*)' skips them and lists them; a single run refuses them, exit 2).
MADE_FOR_OTHER_MODELS = {"irnn", "zero_gamma", "fixup", "skipinit", "gpt2", "t_fixup"}


@pytest.mark.parametrize("name", groups_options("init"))
def test_which_inits_do_not_apply_to_the_default_mlp(name):
    try:
        build(make_cfg(f"init={name}"))
    except NotApplicable as err:
        assert name in MADE_FOR_OTHER_MODELS, err
    else:
        assert name not in MADE_FOR_OTHER_MODELS

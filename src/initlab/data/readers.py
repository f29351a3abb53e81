"""Where a vision set's files come from, and the readers of their formats (IDX, CIFAR pickles).

Sources (DESIGN.md §Data): ``dataset.data_dir`` → the system copy (FashionMNIST: Debian's
``dataset-fashion-mnist`` package) → the cache, ``~/.cache/initlab``, where torchvision's download
puts the files (it needs internet; MNIST and CIFAR-10 have no system copy). A ``data_dir`` that
is given is the only source: the files in it, or a download into it, never another copy.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import pickle
import shutil
import tempfile
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch

from initlab.config.errors import ConfigError

Arrays = tuple[
    torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor
]  # x_train, y_train, x_test, y_test

SYSTEM_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
DOWNLOAD_ROOT = Path.home() / ".cache" / "initlab"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_STEMS = [stem for split in ("train", "test") for stem in IDX_FILES[split]]
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
TORCHVISION_CLASS = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10"}


class DatasetUnavailable(RuntimeError):
    """No source could provide the dataset (offline and no local copy)."""


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (LeCun's MNIST format), gzip-compressed or not, into a uint8 tensor.

    Header: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian int32. torchvision's reader takes only uncompressed files, and
    Debian ships the .gz files.
    """
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != math.prod(shape):
        raise ValueError(f"{path}: header says {shape}, file holds {array.size} values")
    return torch.from_numpy(array.reshape(shape).copy())


def _idx_folder(folder: Path, name: str) -> Path | None:
    """Where the four IDX files are (each ``stem`` or ``stem.gz``): ``folder`` or torchvision's
    ``<folder>/<Class>/raw`` for this set's class only (MNIST and FashionMNIST share their file
    names, and the cache)."""
    for sub in (folder, folder / TORCHVISION_CLASS[name] / "raw"):
        if all(_idx_path(sub, stem) for stem in IDX_STEMS):
            return sub
    return None


def _idx_path(folder: Path, stem: str) -> Path | None:
    return next((folder / f for f in (stem, stem + ".gz") if (folder / f).is_file()), None)


def _read_idx(folder: Path) -> Arrays:
    xtr, ytr, xte, yte = (read_idx(_idx_path(folder, stem)) for stem in IDX_STEMS)
    return xtr.unsqueeze(1), ytr.long(), xte.unsqueeze(1), yte.long()  # (N, 1, 28, 28)


def _cifar_folder(folder: Path) -> Path | None:
    """Where CIFAR-10's python pickles (``data_batch_1..5``, ``test_batch``) are: ``folder`` or
    its ``cifar-10-batches-py``."""
    for sub in (folder, folder / "cifar-10-batches-py"):
        if all((sub / n).is_file() for n in CIFAR_FILES):
            return sub
    return None


def _read_cifar(sub: Path) -> Arrays:
    """Each pickle holds b"data" (N, 3072) uint8 in CHW order and b"labels"."""
    batches = []
    for n in CIFAR_FILES:
        with open(sub / n, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = torch.from_numpy(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        batches.append((x, torch.as_tensor(d[b"labels"], dtype=torch.long)))
    xtr = torch.cat([b[0] for b in batches[:5]])
    ytr = torch.cat([b[1] for b in batches[:5]])
    return xtr, ytr, *batches[5]


def _download(name: str, root: Path) -> Arrays:
    """torchvision's download (it verifies checksums) into a temporary folder inside ``root``,
    whose files move into ``root`` only once both splits have loaded: a failed or interrupted
    download leaves ``root`` as it was (no half-made ``MNIST/raw``)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_CLASS[name])
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        train = cls(staging, train=True, download=True)
        test = cls(staging, train=False, download=True)
        _move_into(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):  # the folder this call made, if still empty
                root.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)

    def x(ds) -> torch.Tensor:
        data = torch.as_tensor(ds.data)
        return data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)  # HWC -> CHW

    return x(train), torch.as_tensor(train.targets), x(test), torch.as_tensor(test.targets)


def _move_into(src: Path, dst: Path) -> None:
    """Move every file under ``src`` to the same relative path under ``dst`` (folders merged,
    files replaced one by one with an atomic rename: same file system)."""
    for path in sorted(src.rglob("*")):  # a folder sorts before what it holds
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(path, target)


def sources(name: str, data_dir: str | None) -> list[Path]:
    """The folders a copy is looked for in, in order. A given data_dir is the only source (its
    files, or a download into it): a typo in it must not silently train on another copy.
    Without one: the system copy, then the cache."""
    if data_dir:
        return [Path(data_dir).expanduser()]
    system = SYSTEM_DIRS.get(name)
    return [p for p in (system, DOWNLOAD_ROOT) if p is not None]


def expected(name: str) -> str:
    """The files a copy of the set is, in words (for an error that says what is missing)."""
    if name == "cifar10":
        return f"CIFAR-10's python batches ({', '.join(CIFAR_FILES)}), or cifar-10-batches-py/"
    return f"the four IDX files ({', '.join(IDX_STEMS)}, or .gz), or {TORCHVISION_CLASS[name]}/raw/"


def present(name: str, data_dir: str | None) -> Path | None:
    """The folder holding a complete copy of the set, as :func:`load_vision` would find it, or
    None (then a load would download): asked without reading or downloading anything."""
    find = _cifar_folder if name == "cifar10" else partial(_idx_folder, name=name)
    return next((f for f in map(find, sources(name, data_dir)) if f is not None), None)


@lru_cache(maxsize=4)
def load_vision(name: str, data_dir: str | None) -> Arrays:
    """Read a torchvision set once per process, trying the sources in order."""
    system = SYSTEM_DIRS.get(name)
    root = sources(name, data_dir)[-1]  # data_dir, else the cache: where a download goes
    if (folder := present(name, data_dir)) is not None:
        return _read_cifar(folder) if name == "cifar10" else _read_idx(folder)
    try:
        return _download(name, root)
    except Exception as err:  # no network, a proxy, a checksum mismatch: say what to do instead
        tried = f"tried: {data_dir}, no complete copy there" if data_dir else "not set"
        ways = [f"  1. dataset.data_dir=<a folder holding the files> ({tried})"]
        if system is not None and data_dir and system.is_dir():
            ways.append(f"  2. the system copy in {system}: leave dataset.data_dir unset to use it")
        elif system is not None:
            ways.append(
                f"  2. sudo apt-get install dataset-{name.replace('_', '-')}  "
                f"(Debian/Ubuntu; puts them in {system}, not present here)"
            )
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        ways.append(
            f"  {len(ways) + 1}. torchvision's download into {root} (needs internet): "
            f"{type(err).__name__}: {first}"
        )
        raise DatasetUnavailable(
            f"dataset={name}: no copy found. Provide it one of these ways:\n"
            + "\n".join(ways)
            + "\nor train offline on scikit-learn's bundled digits: dataset=digits"
        ) from err


_unavailable: dict[tuple[str, str | None], DatasetUnavailable] = {}  # tried once a process


def ensure_available(name: str, data_dir: str | None) -> None:
    """Raise :class:`DatasetUnavailable` unless a copy is present or downloads now (once a
    process: a sweep's jobs over one dataset try it once). Validation calls it, so a missing
    dataset is refused before a run folder exists."""
    if present(name, data_dir) is not None:
        return
    key = (name, data_dir)
    if key not in _unavailable:
        try:
            load_vision(name, data_dir)
            return
        except DatasetUnavailable as err:
            _unavailable[key] = err
    raise _unavailable[key]


def check_data_dir(data_dir) -> str | None:
    """A given ``data_dir`` must be an existing folder: it is the only source then (a download
    goes into it), so a typo must fail here, not train on another copy or download elsewhere."""
    if data_dir is None:
        return None
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("data_dir", data_dir, "must be a path or null")
    if not Path(data_dir).expanduser().is_dir():
        raise ConfigError(
            "data_dir",
            data_dir,
            "no such folder (create it for a download into it, or leave data_dir null)",
        )
    return data_dir

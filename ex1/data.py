"""Dataset sources (a local directory of .npz files, then TensorFlow Datasets), subsets and fingerprints."""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fsutil import NotRegular, open_regular

ENV_VAR = "EX1_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    filename: str
    tfds_name: str
    image_shape: tuple[int, ...]  # per example, as Keras's load_data() returns it
    num_classes: int
    class_names: tuple[str, ...]
    download_host: str            # where TFDS downloads it from: reachable or not decides in seconds


SPECS = {
    "mnist": DatasetSpec("mnist", "mnist.npz", "mnist", (28, 28), 10, tuple(str(i) for i in range(10)),
                         "storage.googleapis.com"),
    "cifar10": DatasetSpec(
        "cifar10", "cifar10.npz", "cifar10", (32, 32, 3), 10,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        "www.cs.toronto.edu",
    ),
}
KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Dataset:
    """uint8 images and labels in Keras's load_data() layout, plus where they came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str = field(default="")

    @property
    def num_classes(self) -> int:
        return SPECS[self.name].num_classes


class DataError(RuntimeError):
    """No source could provide a dataset, or a provided file is malformed."""


def _sources_hint(spec: DatasetSpec) -> str:
    return (
        f"To supply the data, put {spec.filename} (arrays x_train, y_train, x_test, y_test as in "
        f"keras.datasets.{spec.name}.load_data()) in a directory and pass --data-dir DIR or set "
        f"{ENV_VAR}=DIR; or run keras.datasets.{spec.name}.load_data() once, which fills Keras's cache; "
        f"or make TensorFlow Datasets able to load '{spec.tfds_name}' (network access or a prepared "
        f"~/tensorflow_datasets)."
    )


def _normalise_labels(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Labels of shape (N, 1), as keras.datasets.cifar10.load_data() returns them, become (N,)."""
    out = dict(arrays)
    for k in ("y_train", "y_test"):
        y = out.get(k)
        if y is not None and y.ndim == 2 and y.shape[1] == 1:
            out[k] = y.reshape(-1)
    return out


def _check_headers(spec: DatasetSpec, source, path: Path) -> None:
    """Check each array's .npy header (dtype, rank, size against the bytes stored) before anything
    is allocated: a 0-d array or a header claiming terabytes is 'malformed', not a crash."""
    problems = []
    try:
        with zipfile.ZipFile(source) as z:
            names = set(z.namelist())
            for k in KEYS:
                if f"{k}.npy" not in names:
                    continue
                info = z.getinfo(f"{k}.npy")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                        else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                    header = f.tell()
                if dtype.hasobject:
                    problems.append(f"{k} holds Python objects, which are not loaded (pickles)")
                    continue
                want = 1 + len(spec.image_shape) if k.startswith("x") else 1
                if not (len(shape) == want or (k.startswith("y") and len(shape) == 2 and shape[1] == 1)):
                    expected = f"(N, {', '.join(map(str, spec.image_shape))})" if k.startswith("x") else "(N,)"
                    problems.append(f"{k} has shape {shape}, expected {expected}")
                    continue
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed != info.file_size - header:
                    problems.append(f"{k}'s header claims shape {shape} of {dtype} ({claimed:,} bytes) but the "
                                    f"file holds {info.file_size - header:,} bytes")
    except Exception as e:  # an untrusted file: whatever its bytes make the zip or .npy reader raise is 'malformed'
        raise DataError(f"{path} is malformed (not a readable .npz without pickles: {_first_line(e)}). "
                        f"{_sources_hint(spec)}") from e
    if problems:
        raise DataError(f"{path} is malformed: {'; '.join(problems)}. {_sources_hint(spec)}")


def _validate(spec: DatasetSpec, arrays: dict[str, np.ndarray], where: str) -> None:
    problems = []
    for split in ("train", "test"):
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if x is None or y is None:
            problems.append(f"missing array x_{split} or y_{split}")
            continue
        if x.dtype != np.uint8:
            problems.append(f"x_{split} has dtype {x.dtype}, expected uint8")
        if tuple(x.shape[1:]) != spec.image_shape:
            problems.append(f"x_{split} has shape {x.shape}, expected (N, {', '.join(map(str, spec.image_shape))})")
        if y.ndim != 1 or len(y) != len(x):
            problems.append(f"y_{split} has shape {y.shape}, expected ({len(x)},)")
        elif not np.issubdtype(y.dtype, np.integer):
            problems.append(f"y_{split} has dtype {y.dtype}, expected integers")
        elif len(y) and (y.min() < 0 or y.max() >= spec.num_classes):
            problems.append(f"y_{split} has labels outside 0..{spec.num_classes - 1}")
        if len(x) == 0:
            problems.append(f"x_{split} is empty")
    if problems:
        raise DataError(f"{where} is malformed: {'; '.join(problems)}. {_sources_hint(spec)}")


def _first_line(e: Exception) -> str:
    text = (str(e).strip().splitlines() or [""])[0][:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _open_regular(spec: DatasetSpec, path: Path):
    """path opened for reading when it is a regular file; anything else refused in one line (fsutil.open_regular)."""
    try:
        return open_regular(path)
    except NotRegular as e:
        raise DataError(f"{path} is {e.kind}, not a data file: put the .npz file itself there. "
                        f"{_sources_hint(spec)}") from e
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror or e}). {_sources_hint(spec)}") from e


def _load_npz(spec: DatasetSpec, path: Path) -> dict[str, np.ndarray]:
    with _open_regular(spec, path) as f:
        _check_headers(spec, f, path)
        f.seek(0)
        return _read_npz(spec, f, path)


def _read_npz(spec: DatasetSpec, source, path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(source, allow_pickle=False) as f:
            arrays = {k: f[k] for k in KEYS if k in f.files}
    except Exception as e:  # as in _check_headers: corrupt compressed data, an encrypted member, ...
        raise DataError(
            f"{path} is malformed (not a readable .npz without pickles: {_first_line(e)}). {_sources_hint(spec)}"
        ) from e
    arrays = _normalise_labels(arrays)
    _validate(spec, arrays, str(path))
    return arrays


def keras_cache_dir() -> Path:
    """Where keras.datasets.<name>.load_data() leaves its downloads: $KERAS_HOME/datasets or ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


class _BatchUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's python batches (dicts of numpy arrays and lists) and refuses every other object,
    so that a tampered file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        if name in ("_reconstruct", "scalar"):
            core = np._core if hasattr(np, "_core") else np.core   # numpy 2 renamed numpy.core
            return getattr(core.multiarray, name)
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(np, name)


def _cifar_batches(spec: DatasetSpec, folder: Path) -> dict[str, np.ndarray]:
    """Keras's CIFAR-10 cache (data_batch_1..5, test_batch) in load_data() layout: NHWC uint8, labels (N,)."""

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        with _open_regular(spec, folder / name) as f:
            d = _BatchUnpickler(f, encoding="bytes").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(d["labels"], dtype=np.uint8)

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    return {"x_train": np.concatenate([p[0] for p in parts]), "y_train": np.concatenate([p[1] for p in parts]),
            "x_test": x_test, "y_test": y_test}


def _load_keras_cache(spec: DatasetSpec) -> tuple[dict[str, np.ndarray] | None, str]:
    """(arrays, source) from Keras's download cache, or (None, why not) when it holds no copy."""
    cache = keras_cache_dir()
    if spec.name == "mnist":
        path = cache / "mnist.npz"
        if not (path.exists() or path.is_symlink()):
            return None, f"Keras's cache: no {path}"
        return _load_npz(spec, path), f"Keras's cache {path}"
    # Keras 3.4+ extracts into cifar-10-batches-py-target/, earlier versions straight into datasets/.
    for folder in (cache / "cifar-10-batches-py-target" / "cifar-10-batches-py", cache / "cifar-10-batches-py"):
        if (folder / "test_batch").exists():
            try:
                arrays = _cifar_batches(spec, folder)
            except DataError:
                raise
            except Exception as e:  # an untrusted pickle stream: anything its bytes make the reader raise
                raise DataError(f"{folder} is malformed (not CIFAR-10's python batches: {_first_line(e)}). "
                                f"{_sources_hint(spec)}") from e
            _validate(spec, arrays, str(folder))
            return arrays, f"Keras's cache {folder}"
    return None, f"Keras's cache: no cifar-10-batches-py in {cache}"


class _TfdsUnavailable(Exception):
    """TFDS has no prepared copy and cannot download one."""


def _online(host: str, timeout: float = 5.0) -> bool:
    """Whether host:443 answers within `timeout` seconds (name lookup included, which has no timeout of its own)."""
    import socket
    import threading

    ok = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok)


def _load_tfds(spec: DatasetSpec) -> dict[str, np.ndarray]:
    """From a prepared ~/tensorflow_datasets, else downloaded: offline, this fails in seconds
    (TFDS itself retries for minutes before it gives up)."""
    import tensorflow_datasets as tfds

    def read(download: bool) -> dict[str, np.ndarray]:
        arrays = {}
        for split in ("train", "test"):
            # Batches of 10,000 rather than batch_size=-1: the latter aborts the process under
            # tfds.testing.mock_data (TF 2.21), and chunks keep peak memory lower anyway.
            ds = tfds.load(spec.tfds_name, split=split, as_supervised=True, download=download).batch(10000)
            chunks = list(tfds.as_numpy(ds))
            x = np.concatenate([c[0] for c in chunks])
            y = np.concatenate([c[1] for c in chunks])
            if x.ndim == 4 and x.shape[-1] == 1 and len(spec.image_shape) == 2:
                x = x[..., 0]  # TFDS keeps MNIST's channel axis; Keras's layout has none
            arrays[f"x_{split}"], arrays[f"y_{split}"] = x.astype(np.uint8), y.astype(np.uint8)
        return arrays

    try:
        arrays = read(download=False)
    except AssertionError:  # TFDS's word for "not prepared"
        if not _online(spec.download_host):
            raise _TfdsUnavailable(f"not prepared in ~/tensorflow_datasets, and {spec.download_host} cannot be "
                                   "reached to download it (no network)") from None
        arrays = read(download=True)
    _validate(spec, arrays, f"TensorFlow Datasets '{spec.tfds_name}'")
    return arrays


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in ("x_train", "y_train", "x_test", "y_test"):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_CACHE: dict[tuple[str, str | None], Dataset] = {}


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    return str(data_dir) if data_dir else (os.environ.get(ENV_VAR) or None)


def load(name: str, data_dir: str | os.PathLike | None = None, use_tfds: bool = True) -> Dataset:
    """Load a dataset from the first source that has it: data_dir (or $EX1_DATA_DIR) when one is named (then
    the only source tried), else Keras's own download cache (~/.keras/datasets), else TensorFlow Datasets.

    A file that exists but is malformed is an error of its own (the user pointed at it, so
    silently falling back would hide the problem); a missing file moves on to the next source.
    """
    if name not in SPECS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(SPECS)}")
    spec = SPECS[name]
    directory = resolve_data_dir(data_dir)
    key = (name, directory)
    if key in _CACHE:
        return _CACHE[key]

    tried = []
    arrays = None
    source = ""
    if directory:
        # The user named this directory: a problem with it is theirs to fix, reported at once,
        # rather than hidden behind minutes of TFDS trying to download.
        path = Path(directory) / spec.filename
        if Path(directory).exists() and not Path(directory).is_dir():
            problem = f"that is a file, not a directory: name the folder that holds {spec.filename}"
        elif not Path(directory).is_dir():
            problem = "the directory does not exist"
        elif path.is_symlink() and not path.exists():
            problem = f"{spec.filename} there is a broken link"
        elif path.is_dir():
            problem = f"{spec.filename} there is a folder, not a file"
        elif not path.exists():
            problem = f"it holds no {spec.filename}"
        else:
            problem = ""
        if problem:
            raise DataError(f"could not load {name} from the data directory {directory} (given by "
                            f"{'--data-dir' if data_dir else ENV_VAR}): {problem}. {_sources_hint(spec)}")
        arrays, source = _load_npz(spec, path), f"file {path}"
    else:
        tried.append(f"data directory: none given (--data-dir or {ENV_VAR})")
        arrays, source = _load_keras_cache(spec)
        if arrays is None:
            tried.append(source)
    if arrays is None and use_tfds:
        try:
            arrays, source = _load_tfds(spec), f"TensorFlow Datasets '{spec.tfds_name}'"
        except DataError:
            raise
        except Exception as e:  # TFDS raises many kinds of errors when offline; report them all alike
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            what = "" if isinstance(e, _TfdsUnavailable) else f"{type(e).__name__}: "
            tried.append(f"TensorFlow Datasets '{spec.tfds_name}': {what}{first_line}")
    elif arrays is None:
        tried.append("TensorFlow Datasets: disabled")
    if arrays is None:
        raise DataError(f"could not load {name}. Sources tried: " + "; ".join(tried) + ". " + _sources_hint(spec))

    ds = Dataset(name=name, source=source, fingerprint=fingerprint(arrays), **arrays)
    _CACHE[key] = ds
    return ds


def stratified_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of `per_class` distinct examples of every class, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than the {per_class} asked for")
        picked.append(rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(picked))


def sample_indices(n: int, size: int | None, seed: int) -> np.ndarray:
    """A fixed random sample of `size` of range(n) (all of it when size is None or >= n), sorted."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1] with a channel axis (NHWC)."""
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def make_pairs(x: np.ndarray, y: np.ndarray, n: int, seed: int,
               exclude: tuple[tuple[int, int], ...] = (), only: tuple[tuple[int, int], ...] = ()
               ) -> tuple[np.ndarray, np.ndarray]:
    """n images of two digits side by side (28 x 56) and their labels (n, 2), drawn with `seed`.

    Pairs whose (left, right) labels are in `exclude` are never drawn; with `only`, nothing else is.
    Both images of a pair come from the arrays given, so train and test pairs never mix.
    """
    rng = np.random.default_rng(seed)
    banned = {tuple(map(int, p)) for p in exclude}
    wanted = {tuple(map(int, p)) for p in only}
    left, right = [], []
    have = 0
    while have < n:
        i, j = rng.integers(0, len(x), (2, 4 * (n - have) + 64))
        ok = np.ones(len(i), dtype=bool)
        if banned or wanted:
            combos = list(zip(y[i].tolist(), y[j].tolist()))
            ok = np.array([(c not in banned) and (not wanted or c in wanted) for c in combos])
        left.append(i[ok])
        right.append(j[ok])
        have += int(ok.sum())
    i, j = np.concatenate(left)[:n], np.concatenate(right)[:n]
    return np.concatenate([x[i], x[j]], axis=2), np.stack([y[i], y[j]], axis=1).astype(np.uint8)

"""Plumbing for adversarial_cats_dogs.ipynb: find and load the images, load and cache models.

The notebook imports this module from its own folder. What the notebook teaches (the network
and the gradient-sign attack) stays in the notebook; this is what it needs around it. The
training recipe is in cats_dogs_training.py, beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import platformdirs
import tensorflow as tf

from common.files import write_atomically

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
IMAGE_SIZE = 128
CLASS_NAMES = ("cat", "dog")              # label 0 = cat, label 1 = dog
SPLITS = ("train", "validation")
CLASS_FOLDERS = ("cats", "dogs")


def _is_data_dir(path: Path) -> bool:
    """Whether `path` holds train/{cats,dogs} and validation/{cats,dogs}."""
    return all((path / split / folder).is_dir() for split in SPLITS for folder in CLASS_FOLDERS)


def _keras_cache_candidates() -> list[Path]:
    """Where a copy that Keras downloaded before would be."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    datasets = keras_home / "datasets"
    return [datasets / "cats_and_dogs_filtered_extracted" / "cats_and_dogs_filtered",  # Keras 3
            datasets / "cats_and_dogs_filtered"]                                       # Keras 2


def find_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The folder with train/{cats,dogs} and validation/{cats,dogs}.

    Looked for, in this order, in `data_dir`, in $CATS_DOGS_DIR, in Keras' cache, and (with
    `download=True`) in a fresh download of DATA_URL. Raises FileNotFoundError naming both
    ways to get the images when none works.
    """
    how_to = (f"Set the environment variable CATS_DOGS_DIR to a folder holding "
              f"train/{{cats,dogs}} and validation/{{cats,dogs}}, or let the notebook download "
              f"{DATA_URL}")
    explicit = data_dir if data_dir is not None else os.environ.get("CATS_DOGS_DIR")
    if explicit:
        path = Path(explicit).expanduser()
        for candidate in (path, path / "cats_and_dogs_filtered"):
            if _is_data_dir(candidate):
                return candidate
        source = "data_dir" if data_dir is not None else "CATS_DOGS_DIR"
        raise FileNotFoundError(f"{source}={str(explicit)!r} is not a cats-vs-dogs folder "
                                f"(no train/cats, train/dogs, validation/cats, validation/dogs "
                                f"in it). {how_to}.")
    for candidate in _keras_cache_candidates():
        if _is_data_dir(candidate):
            return candidate
    if download:
        try:
            extracted = keras.utils.get_file("cats_and_dogs_filtered.zip", origin=DATA_URL,
                                             extract=True)
        except Exception as error:  # network, HTTP or archive errors alike
            raise FileNotFoundError(f"Cannot find the cats-vs-dogs images, and downloading "
                                    f"{DATA_URL} failed ({error}). {how_to}.") from error
        for candidate in (Path(extracted) / "cats_and_dogs_filtered", Path(extracted)):
            if _is_data_dir(candidate):
                return candidate
    raise FileNotFoundError(f"Cannot find the cats-vs-dogs images. {how_to}.")


def _decode_and_resize(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One image file as a uint8 IMAGE_SIZE x IMAGE_SIZE x 3 tensor, with its label."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label


def _load_split(folder: Path) -> tuple[tf.data.Dataset, int, int]:
    """(dataset, files found, images kept) for one split; undecodable files are dropped."""
    paths, labels = [], []
    for label, name in enumerate(CLASS_FOLDERS):
        files = sorted(p for p in (folder / name).iterdir() if p.is_file())
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    ds = tf.data.Dataset.from_tensor_slices((paths, np.array(labels, dtype=np.int32)))
    ds = ds.map(_decode_and_resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=False)  # undecodable files are dropped here...
    ds = ds.cache()
    kept = sum(1 for _ in ds)                 # ...decoded once (this pass fills the cache)
    ds = ds.apply(tf.data.experimental.assert_cardinality(kept))
    return ds.prefetch(tf.data.AUTOTUNE), len(paths), kept


@dataclass(frozen=True)
class CatsDogs:
    """The training and validation datasets and what loading them found.

    Unpacks as `train_ds, val_ds = load_datasets()`. `report` holds, per split, the images kept
    and the undecodable files skipped: {"train": {"images": 2000, "skipped": 0}, ...}.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    report: dict[str, dict[str, int]]

    def __iter__(self) -> Iterator[tf.data.Dataset]:
        return iter((self.train, self.validation))


def load_datasets(data_dir: str | os.PathLike | None = None, *, verbose: bool = True) -> CatsDogs:
    """Both splits, each yielding (uint8 image 128x128x3, int32 label: 0=cat, 1=dog).

    The images are found by find_data_dir(data_dir), decoded and resized once and cached in
    memory. verbose: print how many images each split holds and how many files were skipped.
    """
    folder = find_data_dir(data_dir)
    datasets, report = [], {}
    for split in SPLITS:
        ds, found, kept = _load_split(folder / split)
        datasets.append(ds)
        report[split] = {"images": kept, "skipped": found - kept}
    if verbose:
        for split, counts in report.items():
            print(f"{split:>10}: {counts['images']:5,} images, "
                  f"{counts['skipped']} undecodable file(s) skipped")
    return CatsDogs(*datasets, report=report)


def load_validation_images(data_dir: str | os.PathLike | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The validation split as arrays: (uint8 images (n, 128, 128, 3), int32 labels (n,)).

    Only the validation images are decoded, so this is quicker than load_datasets().
    """
    ds, _, _ = _load_split(find_data_dir(data_dir) / "validation")
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.array(labels, dtype=np.int32)


def cache_dir() -> Path:
    """Per-user cache folder: $TF_BEYOND_DL_CACHE, else the platform's user cache folder.

    That is ~/.cache/tf-beyond-dl on Linux (or $XDG_CACHE_HOME/tf-beyond-dl), ~/Library/Caches
    on macOS and %LOCALAPPDATA% on Windows, as platformdirs knows them.
    """
    if os.environ.get("TF_BEYOND_DL_CACHE"):
        return Path(os.environ["TF_BEYOND_DL_CACHE"])
    return Path(platformdirs.user_cache_dir("tf-beyond-dl", appauthor=False))


def _data_fingerprint(folder: Path) -> str:
    """SHA-256 over the names and contents of every image file of both splits."""
    digest = hashlib.sha256()
    for path in sorted(p for split in SPLITS for p in (folder / split).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def model_cache_path(settings: dict, data_dir: Path) -> Path:
    """Where the model trained with `settings` on the images in `data_dir` is cached.

    The file name is a digest of the settings, the TensorFlow version and the image files, so
    a change to any of them gives a new file instead of a stale model.
    """
    key = json.dumps({"settings": settings, "tensorflow": tf.__version__,
                      "data": _data_fingerprint(data_dir)}, sort_keys=True)
    return cache_dir() / f"cats_dogs_cnn-{hashlib.sha256(key.encode()).hexdigest()[:16]}.keras"


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DamagedModelFile(RuntimeError):
    """A model file that is missing, incomplete, altered or not a Keras model."""


def check_model_file(path: Path, expected_sha256: str) -> None:
    """Raise DamagedModelFile, naming `path` and what is wrong, unless it has the expected hash."""
    if not path.is_file():
        raise DamagedModelFile(f"{path} is missing")
    if not zipfile.is_zipfile(path):
        raise DamagedModelFile(f"{path} is not a .keras (zip) file: it is incomplete or was "
                               f"overwritten ({path.stat().st_size:,} bytes)")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise DamagedModelFile(f"{path} has changed: its SHA-256 is {actual[:16]}..., but its "
                               f"record says {expected_sha256[:16]}...")


def check_record_kind(record: dict, record_path: Path, robust: bool) -> None:
    """Raise DamagedModelFile unless the record is a robust model's (robust) or a plain one's.

    A robust (adversarially trained) model's record states its budget, `epsilon`; a plain
    model's record has none. The two must never be mixed up.
    """
    if robust and "epsilon" not in record:
        raise DamagedModelFile(f"{record_path} is the record of a plain (not adversarially "
                               f"trained) model: it states no epsilon")
    if not robust and "epsilon" in record:
        raise DamagedModelFile(f"{record_path} is the record of a robust (adversarially "
                               f"trained, epsilon {record['epsilon']}) model, not of the plain "
                               f"classifier")


def load_model_file(path: Path, robust: bool = False) -> keras.Model:
    """The Keras model stored at `path`, after checking it against the record beside it (.json).

    Loaded with safe_mode=True (no code from the file is run). Raises DamagedModelFile, naming
    the file and what is wrong with it, when the model or its record is missing, the record has
    no SHA-256 or is of the other kind (robust or plain, see check_record_kind), or the model
    file is not a zip, altered or unloadable.
    """
    record_path = path.with_suffix(".json")
    record = load_record(record_path)
    check_record_kind(record, record_path, robust)
    expected = record.get("sha256")
    if not isinstance(expected, str):
        raise DamagedModelFile(f"{record_path} has no SHA-256 entry")
    check_model_file(path, expected)
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many kinds for a bad archive
        raise DamagedModelFile(f"{path} does not load as a Keras model ({error})") from error


def load_record(path: Path) -> dict:
    """The JSON record at `path`; DamagedModelFile, naming the file, if missing or not JSON."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise DamagedModelFile(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedModelFile(f"{path} is not a readable JSON record ({error})") from error
    if not isinstance(record, dict):
        raise DamagedModelFile(f"{path} is not a JSON record (an object)")
    return record


SHIPPED_MODEL = Path(__file__).resolve().with_name("cats_dogs_classifier.keras")
SHIPPED_RECORD = SHIPPED_MODEL.with_suffix(".json")


def load_shipped_model(path: Path = SHIPPED_MODEL) -> keras.Model:
    """The trained classifier that ships with the repository, checked against its record.

    The record (same name, .json) holds the file's SHA-256 and how it was made. A damaged file
    raises DamagedModelFile with what happened and what to do; nothing is deleted.
    """
    try:
        return load_model_file(path)
    except DamagedModelFile as error:
        raise DamagedModelFile(
            f"The shipped model cannot be used: {error}. Restore both files from the "
            f"repository (git checkout -- {path.name} {path.stem}.json, in {path.parent}; a "
            f"clone without Git LFS or an interrupted download looks like this), or train your "
            f"own with get_model(from_scratch=True), which takes a few minutes.") from None


def save_model(model: keras.Model, record: dict, path: Path) -> None:
    """Store the model at `path` (Keras' .keras format) and a record beside it (.json).

    The record gets the model file's SHA-256 and size, so a later load can tell an intact file
    from a damaged one. Each file is written atomically (model first), so an interrupted run never
    leaves a half-written file, and a model without a record counts as damaged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: model.save(tmp))
    write_record({**record, "sha256": sha256_of(path), "bytes": path.stat().st_size},
                 path.with_suffix(".json"))


def write_record(record: dict, path: Path) -> None:
    """Write a model's JSON record at `path`, atomically."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n"))


def load_cached_model(path: Path, robust: bool = False) -> keras.Model | None:
    """The model cached at `path`, or None when there is none or it is damaged (with a warning).

    robust: whether it is an adversarially trained model (its record states epsilon). A damaged
    cached model is not deleted here: training again overwrites it atomically.
    """
    if not path.exists():
        return None
    try:
        return load_model_file(path, robust=robust)
    except DamagedModelFile as error:
        warnings.warn(f"The cached model cannot be used ({error}); training a new one, which "
                      f"will replace {path.name}.", stacklevel=2)
        return None

"""MedMNIST resolution: path, user cache, official download with checksum (tested offline
against the local copy through a file:// URL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthgen.errors import InputFileError
from synthgen.images import medmnist
from tests.images.conftest import BREASTMNIST

pytestmark = pytest.mark.skipif(not BREASTMNIST.exists(), reason="shared data not mounted")
PNEUMONIA = BREASTMNIST.with_name("pneumoniamnist.npz")


def test_official_location_and_checksum() -> None:
    spec = medmnist.known_file("breastmnist")
    assert spec.url == "https://zenodo.org/records/10519652/files/breastmnist.npz?download=1"
    assert medmnist.md5_of(BREASTMNIST) == spec.md5


def test_given_path_wins(tmp_path: Path) -> None:
    assert medmnist.resolve_medmnist(BREASTMNIST, cache=tmp_path) == BREASTMNIST
    with pytest.raises(InputFileError):
        medmnist.resolve_medmnist(tmp_path / "nope.npz", cache=tmp_path)


def test_download_verifies_checksum_then_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.medmnist copy
    cache = tmp_path / "cache"
    assert medmnist.find_cached("breastmnist", cache=cache) is None
    events: list = []
    path = medmnist.resolve_medmnist(None, "breastmnist", cache=cache,
                                     url=BREASTMNIST.resolve().as_uri(), progress=events.append)
    assert path == cache / "breastmnist.npz" and medmnist.md5_of(path) == medmnist.known_file("breastmnist").md5
    assert events and events[-1].stage == "download"
    # second time: from the cache, no download
    assert medmnist.resolve_medmnist(None, "breastmnist", cache=cache, url="file:///nowhere") == path


def test_download_with_wrong_checksum_is_not_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(InputFileError, match="MD5"):
        medmnist.download_medmnist("breastmnist", cache=cache, url=PNEUMONIA.resolve().as_uri())
    assert list(cache.iterdir()) == []


def test_unreachable_download_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="pass the file's path"):
        medmnist.download_medmnist("breastmnist", cache=tmp_path, url="file:///no/such/file.npz")


def test_cache_with_corrupted_copy_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYNTHGEN_CACHE", str(tmp_path / "c"))
    target = medmnist.cache_dir() / "breastmnist.npz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted")
    assert medmnist.find_cached("breastmnist") is None
    shutil.copyfile(BREASTMNIST, target)
    assert medmnist.find_cached("breastmnist") == target

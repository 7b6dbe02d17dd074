"""The push manifest refuses any version that is not exactly what the Pusher wrote."""

import json
import os

import pytest

from recsys.serving.manifest import MANIFEST, ManifestError, file_digests, verify_manifest, write_manifest


@pytest.fixture
def version(tmp_path):
    path = tmp_path / "ranker" / "100"
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"graph")
    (path / "variables" / "variables.index").write_bytes(b"index")
    write_manifest(str(path), model="ranker", version=100, run_id="r1")
    return path


def test_a_pushed_version_verifies_and_carries_what_it_was_given(version):
    manifest = verify_manifest(str(version))
    assert (manifest["model"], manifest["version"], manifest["run_id"]) == ("ranker", 100, "r1")
    # `printf graph | sha256sum`
    assert manifest["files"]["saved_model.pb"] == "eef93e1d14482804277fca0172464032d1a4fdbcc338524059fa1e861454ad4d"
    assert set(manifest["files"]) == {"saved_model.pb", "variables/variables.index"}
    assert MANIFEST not in file_digests(str(version))
    assert not [n for n in os.listdir(version) if n.endswith(".tmp")]


def test_missing_manifest(version):
    os.remove(version / MANIFEST)
    with pytest.raises(ManifestError, match="no push_manifest.json"):
        verify_manifest(str(version))


def test_one_changed_byte(version):
    data = bytearray((version / "variables" / "variables.index").read_bytes())
    data[0] ^= 1
    (version / "variables" / "variables.index").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="variables/variables.index has sha256"):
        verify_manifest(str(version))


def test_extra_file(version):
    (version / "variables" / "evil.so").write_bytes(b"")
    with pytest.raises(ManifestError, match="variables/evil.so is not in"):
        verify_manifest(str(version))


def test_missing_file(version):
    os.remove(version / "saved_model.pb")
    with pytest.raises(ManifestError, match="saved_model.pb is listed .* but missing"):
        verify_manifest(str(version))


def test_unreadable_manifest(version):
    (version / MANIFEST).write_text("{not json")
    with pytest.raises(ManifestError, match="unreadable"):
        verify_manifest(str(version))
    (version / MANIFEST).write_text(json.dumps({"model": "ranker"}))  # no "files"
    with pytest.raises(ManifestError, match="unreadable"):
        verify_manifest(str(version))

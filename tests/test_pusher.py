"""The idempotent Pusher recognises a model that is already a served version."""

import os

from components.pusher import find_identical_version, tree_digest


def _model(path, weights=b"w1"):
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "wb") as fh:
        fh.write(b"graph")
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as fh:
        fh.write(weights)
    return path


def test_identical_tree_is_found_and_a_changed_weight_is_not(tmp_path):
    candidate = _model(str(tmp_path / "candidate"))
    base = tmp_path / "serving"
    _model(str(base / "100"), weights=b"other")
    assert find_identical_version(candidate, str(base)) is None
    _model(str(base / "200"))
    assert find_identical_version(candidate, str(base)) == "200"
    assert find_identical_version(candidate, str(tmp_path / "missing")) is None


def test_digest_covers_file_names_not_only_bytes(tmp_path):
    a = _model(str(tmp_path / "a"))
    b = _model(str(tmp_path / "b"))
    assert tree_digest(a) == tree_digest(b)
    os.rename(os.path.join(b, "saved_model.pb"), os.path.join(b, "saved_model.pbtxt"))
    assert tree_digest(a) != tree_digest(b)

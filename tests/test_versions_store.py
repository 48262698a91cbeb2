"""The version store: atomic, never-overwritten versions; pins, restore, a prune that only moves."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from evotui.cli import main
from evotui.versions import VersionError, VersionStore, parse_version_id, read_version


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _commit(store: VersionStore, payload: bytes, parent: str | None = None, **meta: object):
    staging = store.staging_dir()
    (staging / "model").mkdir()
    (staging / "model" / "model.safetensors").write_bytes(payload)
    (staging / "model" / "config.json").write_text('{"n_layer": 2}')
    return store.commit(
        staging,
        {
            "parent": parent,
            "dataset": "d",
            "steps": 5,
            "final_accuracy": 0.5,
            "final_avg_loss": 1.25,
            **meta,
        },
    )


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    return VersionStore(tmp_path, create=True)


def test_commit_publishes_complete_versions_with_hashes(store: VersionStore) -> None:
    first = _commit(store, b"weights-1")
    second = _commit(store, b"weights-2", parent=first.id)
    assert [v.id for v in store.versions()] == ["v0001", "v0002"]
    assert second.parent == "v0001"
    digest = hashlib.sha256(b"weights-1").hexdigest()
    assert first.meta["files"]["model/model.safetensors"] == digest
    assert first.created and first.created.endswith("Z")
    assert store.verify(first) == [] and store.verify(second) == []
    # no staging folder is left behind
    assert [p.name for p in store.models_dir.iterdir() if p.name.startswith(".tmp-")] == []


def test_verify_notices_a_changed_weight_file(store: VersionStore) -> None:
    version = _commit(store, b"weights")
    (version.model_path / "model.safetensors").write_bytes(b"tampered")
    assert any("changed" in p for p in store.verify(version))


def test_a_folder_without_version_json_is_not_a_version(store: VersionStore) -> None:
    _commit(store, b"w")
    half = store.models_dir / "v0002"
    (half / "model").mkdir(parents=True)
    (half / "model" / "model.safetensors").write_bytes(b"partial")
    broken = store.models_dir / "v0003"
    broken.mkdir()
    (broken / "version.json").write_text('{"number": 3, "vers')  # truncated
    assert [v.id for v in store.versions()] == ["v0001"]
    assert read_version(half) is None


def test_staging_of_a_dead_process_is_cleaned_and_a_live_one_kept(store: VersionStore) -> None:
    dead = store.models_dir / ".tmp-999999999-abcd1234"
    dead.mkdir()
    mine = store.staging_dir()
    removed = store.clean_staging()
    assert removed == [dead] and not dead.exists() and mine.exists()


def test_numbers_are_never_reused_after_prune(store: VersionStore) -> None:
    for i in range(3):
        _commit(store, f"w{i}".encode())
    moved = store.prune(keep=1)
    assert [v.id for v, _ in moved] == ["v0001", "v0002"]
    assert _commit(store, b"w3").id == "v0004"
    # even when state.json is lost, the backups still hold the numbers
    store.state_path.unlink()
    store.prune(keep=1)
    assert _commit(store, b"w4").id == "v0005"


def test_commit_refuses_to_overwrite(store: VersionStore, tmp_path: Path) -> None:
    first = _commit(store, b"one")
    before = _tree_hashes(first.path)
    # a state that claims a lower counter must not make the store reuse v0001
    store.state_path.write_text(json.dumps({"last_number": 0}))
    second = _commit(store, b"two")
    assert second.id == "v0002"
    assert _tree_hashes(first.path) == before


def test_prune_dry_run_moves_nothing_and_keeps_latest_pinned_and_base(
    store: VersionStore, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(5):
        _commit(store, f"w{i}".encode())
    store.pin("v0002")
    store.restore("v3")
    snapshot = {v.id: _tree_hashes(v.path) for v in store.versions()}
    plan = store.plan_prune(keep=1)
    assert sorted(v.id for v in plan.remove) == ["v0001", "v0004"]
    assert plan.reasons == {
        "v0005": "latest",
        "v0003": "base of the next training",
        "v0002": "pinned",
    }
    assert main(["versions", "--base-dir", str(store.base_dir), "prune", "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert "would move v0001" in out and "dry run" in out
    assert {v.id: _tree_hashes(v.path) for v in store.versions()} == snapshot

    assert (
        main(["versions", "--base-dir", str(store.base_dir), "prune", "--keep", "1", "--yes"]) == 0
    )
    assert [v.id for v in store.versions()] == ["v0002", "v0003", "v0005"]
    backups = {b.id: _tree_hashes(b.path) for b in store.backups()}
    # the removed versions live on, byte for byte, under backups/
    assert backups == {"v0001": snapshot["v0001"], "v0004": snapshot["v0004"]}


def test_prune_keep_zero_still_keeps_the_latest(store: VersionStore) -> None:
    _commit(store, b"a")
    _commit(store, b"b")
    store.prune(keep=0)
    assert [v.id for v in store.versions()] == ["v0002"]


def test_restore_sets_the_base_and_brings_back_a_pruned_version(store: VersionStore) -> None:
    for i in range(3):
        _commit(store, f"w{i}".encode())
    assert store.current_base().id == "v0003"
    store.prune(keep=1)
    version, came_from = store.restore("v0001")
    assert came_from is not None and not came_from.exists()
    assert version.id == "v0001" and store.verify(version) == []
    assert store.current_base().id == "v0001"
    # the next training from that base consumes the restore: the base follows the latest again
    _commit(store, b"child", parent="v0001")
    assert store.current_base().id == "v0004"


def test_pin_unpin_and_unknown_versions(store: VersionStore) -> None:
    _commit(store, b"a")
    store.pin("1")
    assert store.pinned() == {"v0001"}
    store.unpin("v0001")
    assert store.pinned() == set()
    with pytest.raises(VersionError, match="not pinned"):
        store.unpin("v0001")
    with pytest.raises(VersionError, match="no version v0009"):
        store.pin("v0009")
    with pytest.raises(VersionError, match="is not a version"):
        parse_version_id("latest")


def test_cli_json_listing_and_one_line_errors(
    store: VersionStore, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _commit(store, b"a")
    _commit(store, b"b", parent=first.id)
    store.pin("v0001")
    capsys.readouterr()
    assert main(["versions", "--base-dir", str(store.base_dir), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["base"] == "v0002"
    entries = {e["version"]: e for e in listing["versions"]}
    assert set(entries) == {"v0001", "v0002"}
    assert entries["v0002"]["parent"] == "v0001"
    assert entries["v0001"]["pinned"] is True and entries["v0002"]["pinned"] is False
    for key in ("dataset", "path", "steps", "final_accuracy", "final_avg_loss", "created"):
        assert key in entries["v0001"]
    assert Path(entries["v0001"]["path"]) == first.path

    assert main(["versions", "--base-dir", str(store.base_dir)]) == 0
    table = capsys.readouterr().out
    assert "v0002" in table and "latest" in table and "pinned" in table and "50%" in table

    assert main(["versions", "--base-dir", str(store.base_dir), "restore", "v0042"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no version v0042" in err
    assert main(["versions", "--base-dir", str(store.base_dir / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cli_verify_reports_a_change(
    store: VersionStore, capsys: pytest.CaptureFixture[str]
) -> None:
    version = _commit(store, b"a")
    assert main(["versions", "--base-dir", str(store.base_dir), "verify"]) == 0
    os.truncate(version.model_path / "config.json", 1)
    assert main(["versions", "--base-dir", str(store.base_dir), "verify", "v1"]) == 2
    assert "config.json has changed" in capsys.readouterr().out

"""The issue's check, end to end with the real tiny model: inbox → versions, kill -9 included."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evotui.cli import main


def _jsonl(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _versions(base: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["versions", "--base-dir", str(base), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_inbox_to_versions_survives_kill_9(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "B"
    inbox = base / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "good.jsonl").write_text(
        _jsonl([{"input": f"{i}+1=", "output": str(i + 1)} for i in range(6)])
    )
    (inbox / "bad.jsonl").write_text(
        _jsonl([{"input": "a", "output": "b"}]) + '{"input": "x", "output": \n'
    )

    # 1. a good and a malformed file
    assert main(["daemon", "--base-dir", str(base), "--once", "--steps", "60"]) == 0
    assert (base / "done" / "good.jsonl").exists()
    snaps = sorted(p.name for p in (base / "data/evolution_snapshots/good").glob("step_*.json"))
    assert snaps[0] == "step_000000.json" and snaps[-1] == "step_000060.json"
    assert (base / "failed" / "bad.jsonl").exists()
    reason = (base / "failed" / "bad.jsonl.reason.txt").read_text()
    assert reason.startswith("bad.jsonl:2: not valid JSON")
    listing = _versions(base, capsys)
    assert [v["version"] for v in listing["versions"]] == ["v0001"]
    first = listing["versions"][0]
    assert first["dataset"] == "good" and first["steps"] == 60 and first["parent"] is None
    assert Path(first["snapshots"]) == base / "data/evolution_snapshots/good"
    v1 = Path(first["path"])
    v1_before = _hashes(v1)

    # 2. a second good file: a second version; the first one byte-identical
    (inbox / "second.jsonl").write_text(
        _jsonl([{"question": f"{i}*2=", "answer": str(i * 2)} for i in range(6)])
    )
    assert main(["daemon", "--base-dir", str(base), "--once", "--steps", "20"]) == 0
    listing = _versions(base, capsys)
    assert [v["version"] for v in listing["versions"]] == ["v0001", "v0002"]
    assert listing["versions"][1]["parent"] == "v0001"
    assert _hashes(v1) == v1_before

    # 3. prune without --yes removes nothing
    everything = _hashes(base / "models")
    assert main(["versions", "--base-dir", str(base), "prune", "--keep", "1"]) == 0
    assert "would move v0001" in capsys.readouterr().out
    assert _hashes(base / "models") == everything

    # 4. kill -9 while training a third file, then --once again
    (inbox / "third.jsonl").write_text(
        _jsonl([{"input": f"{i}-1=", "output": str(i - 1)} for i in range(1, 7)])
    )
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evotui",
            "daemon",
            "--base-dir",
            str(base),
            "--steps",
            "5000",
            "--schedule",
            "every:5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        third_snaps = base / "data/evolution_snapshots/third"
        deadline = time.monotonic() + 90
        while not list(third_snaps.glob("step_*.json")):
            assert daemon.poll() is None, "the daemon exited before training the third file"
            assert time.monotonic() < deadline, "no snapshot of the third file appeared"
            time.sleep(0.1)
        assert (base / "processing" / "third.jsonl").exists()
    finally:
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
    assert main(["daemon", "--base-dir", str(base), "--once", "--steps", "20"]) == 0
    outcome = [p for p in ("done/third.jsonl", "failed/third.jsonl") if (base / p).exists()]
    assert outcome, "the file of the killed run is missing"
    assert not (base / "processing" / "third.jsonl").exists()
    listing = _versions(base, capsys)
    names = [v["version"] for v in listing["versions"]]
    assert names == ["v0001", "v0002", "v0003"]  # done/ here: a plain retry succeeds
    assert [p.name for p in (base / "models").iterdir() if p.name.startswith(".")] == [".lock"]
    assert _hashes(v1) == v1_before
    capsys.readouterr()
    assert main(["versions", "--base-dir", str(base), "verify"]) == 0
    assert "3 version(s) verified" in capsys.readouterr().out

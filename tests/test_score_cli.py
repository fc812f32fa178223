"""``asvit score``: output, resume, and clear errors that leave earlier outputs intact."""

import csv
import json
import subprocess
import sys

import pytest
import torch

from asvit.cli import main
from asvit.data import prepare_classification
from asvit.models import ASViT
from asvit.proxies import PROXIES
from asvit.proxies.scoring import ScoreJob, ScoreSettings, score_records
from asvit.space import Topology

# Scaled form at stage-1 width 8: small networks keep the tests fast.
SEEDS = ["8,2,3,1|4,1,2,1|4,1,4,1|4,1,6,1|32,8", "4,4,2,1|2,2,6,1|3,2,3,1|2,1,5,1|64,8",
         "6,8,5,1|3,1,3,1|2,1,2,1|2,1,4,1|16,8"]
ARGS = ["--inputs", "noise", "--space", "asvit", "--proxies", "params,length_distortion", "--image-size", "32",
        "--repeats", "1"]
# The same architectures as library jobs, scored by score_records directly.
JOBS = [ScoreJob(f"t{i}", t, lambda t=t: ASViT(Topology.parse(t), num_classes=1000)) for i, t in enumerate(SEEDS)]
NAMES = ["params", "length_distortion"]
SETTINGS = ScoreSettings(image_size=32, repeats=1)


@pytest.fixture
def archs(tmp_path):
    path = tmp_path / "archs.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "topology": t}) + "\n" for i, t in enumerate(SEEDS)))
    return path


def read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_score_writes_one_row_per_architecture(archs, tmp_path):
    out = tmp_path / "scores.csv"
    main(["score", "--archs", str(archs), "--out", str(out), *ARGS])
    rows = read(out)
    assert [r["id"] for r in rows] == ["t0", "t1", "t2"]
    assert list(rows[0]) == ["id", "arch", "params", "length_distortion", "bad"]
    assert float(rows[0]["params"]) == sum(p.numel() for p in ASViT(Topology.parse(SEEDS[0])).parameters())


def test_a_rerun_continues_a_partial_table_and_matches_an_uninterrupted_run(archs, tmp_path):
    full, partial = tmp_path / "full.csv", tmp_path / "partial.csv"
    score_records(JOBS, NAMES, SETTINGS, full, progress=False)
    score_records(JOBS[:1], NAMES, SETTINGS, partial, progress=False)  # stopped after one row
    summary = score_records(JOBS, NAMES, SETTINGS, partial, progress=False)
    assert summary["resumed"] == 1 and summary["scored_now"] == 2
    assert read(partial) == read(full)


def test_the_seconds_ledger_keeps_the_cost_of_resumed_rows(tmp_path):
    out, ledger = tmp_path / "scores.csv", tmp_path / "seconds.json"
    score_records(JOBS[:2], NAMES, SETTINGS, out, progress=False, seconds=ledger)  # stopped after two rows
    first = json.loads(ledger.read_text())
    assert list(first) == ["t0", "t1"] and all(set(row) == set(NAMES) for row in first.values())
    summary = score_records(JOBS, NAMES, SETTINGS, out, progress=False, seconds=ledger)
    recorded = json.loads(ledger.read_text())
    assert {k: recorded[k] for k in first} == first and list(recorded) == ["t0", "t1", "t2"]
    expected = {name: sum(row[name] for row in recorded.values()) / 3 for name in NAMES}
    assert summary["seconds_per_architecture"] == pytest.approx(expected)
    # a rerun that resumes every row measures nothing, reports the same cost and leaves the ledger as it was
    before = ledger.read_bytes()
    again = score_records(JOBS, NAMES, SETTINGS, out, progress=False, seconds=ledger)
    assert again["scored_now"] == 0 and again["seconds_per_architecture"] == summary["seconds_per_architecture"]
    assert ledger.read_bytes() == before
    # a row the table drops (its id now names another architecture) drops its entry too
    changed = [*JOBS[:2], ScoreJob("t2", SEEDS[0], JOBS[0].build)]
    score_records(changed, NAMES, SETTINGS, out, progress=False, seconds=ledger)
    assert list(json.loads(ledger.read_text())) == ["t0", "t1", "t2"]
    assert json.loads(ledger.read_text())["t2"] != recorded["t2"]


def test_changed_settings_start_over_and_keep_the_old_table(archs, tmp_path):
    out = tmp_path / "scores.csv"
    main(["score", "--archs", str(archs), "--out", str(out), *ARGS])
    old = out.read_text()
    main(["score", "--archs", str(archs), "--out", str(out), *ARGS[:-1], "2"])
    assert (tmp_path / "scores.csv.stale").read_text() == old
    assert len(read(out)) == 3


def test_two_move_asides_keep_both_tables_with_their_settings(archs, tmp_path):
    out = tmp_path / "scores.csv"
    tables = []
    for repeats in ("1", "2", "3"):
        main(["score", "--archs", str(archs), "--out", str(out), *ARGS[:-1], repeats])
        tables.append((out.read_text(), (tmp_path / "scores.csv.settings.json").read_text()))
    first, second = tmp_path / "scores.csv.stale", tmp_path / "scores.csv.stale.2"
    assert (first.read_text(), (tmp_path / "scores.csv.stale.settings.json").read_text()) == tables[0]
    assert (second.read_text(), (tmp_path / "scores.csv.stale.2.settings.json").read_text()) == tables[1]
    assert '"repeats": 1' in tables[0][1] and '"repeats": 2' in tables[1][1]


def test_a_table_measured_by_other_proxy_code_starts_over(archs, tmp_path, monkeypatch):
    out = tmp_path / "scores.csv"
    main(["score", "--archs", str(archs), "--out", str(out), *ARGS])
    old = out.read_text()
    monkeypatch.setattr("asvit.proxies.scoring.source_digest", lambda *modules: "other code")
    main(["score", "--archs", str(archs), "--out", str(out), *ARGS])
    assert (tmp_path / "scores.csv.stale").read_text() == old
    assert len(read(out)) == 3


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "topology": "8,2,3|4,1,2|4,1,4|4,1,6|32"}\n{"id": "b", "topology": \n',
     r"archs.jsonl:2: not valid JSON"),
    ('{"id": "a", "topology": "8,2,3|4,1,2|4,1,4|4,1,6|31"}\n',
     r"archs.jsonl:1: topology '8,2,3\|4,1,2\|4,1,4\|4,1,6\|31': field 13 \(H\) is 31"),
    ('{"id": "a"}\n', "archs.jsonl:1: missing field 'topology'"),
    ('[1, 2]\n', "archs.jsonl:1: expected a JSON object"),
])
def test_bad_records_fail_clearly_and_leave_outputs_intact(tmp_path, capsys, content, message):
    archs = tmp_path / "archs.jsonl"
    archs.write_text(content)
    out = tmp_path / "scores.csv"
    out.write_text("earlier output\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--archs", str(archs), "--out", str(out), *ARGS])
    assert exit_info.value.code == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
    assert out.read_text() == "earlier output\n"


def test_missing_architecture_file_exits_non_zero(tmp_path):
    out = tmp_path / "scores.csv"
    result = subprocess.run([sys.executable, "-m", "asvit.cli", "score", "--archs", str(tmp_path / "none.jsonl"),
                             "--out", str(out), *ARGS], capture_output=True, text=True)
    assert result.returncode == 2
    assert "none.jsonl: architecture file not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_autoformer_records_are_scored(tmp_path):
    archs = tmp_path / "af.jsonl"
    archs.write_text(json.dumps({"id": "x", "embed_dim": 32, "depth": 2, "num_heads": [1, 2],
                                 "mlp_ratio": [2.0, 3.0], "accuracy": {"c100": 50.0}}) + "\n")
    out = tmp_path / "scores.csv"
    prepare_classification("generated", tmp_path / "cls", image_size=16, seed=0, num_classes=3, train_size=8,
                           val_size=4)
    main(["score", "--space", "autoformer", "--archs", str(archs), "--out", str(out), "--images",
          str(tmp_path / "cls"), "--proxies", "ntk_cond,dss", "--image-size", "32", "--repeats", "1",
          "--batch-size", "4"])
    row = read(out)[0]
    assert row["id"] == "x" and float(row["ntk_cond"]) >= 1 and float(row["dss"]) > 0
    settings = json.loads((tmp_path / "scores.csv.settings.json").read_text())["settings"]
    assert settings["images"] == str(tmp_path / "cls") and settings["images_digest"]


@pytest.mark.parametrize("inputs, message", [
    (["--proxies", "params,ntk_cond"], "give --images PATH"),  # the NTK reads the batch's images
    (["--inputs", "noise", "--images", "data/cls"], "--images and --inputs noise contradict each other"),
])
def test_the_ntk_batch_source_must_be_given_once(archs, tmp_path, capsys, inputs, message):
    out = tmp_path / "scores.csv"
    with pytest.raises(SystemExit):
        main(["score", "--archs", str(archs), "--out", str(out), *ARGS[2:], *inputs])
    assert message in capsys.readouterr().err and not out.exists()


def test_proxies_that_read_no_images_score_without_an_ntk_batch(archs, tmp_path):
    out = tmp_path / "scores.csv"
    main(["score", "--archs", str(archs), "--out", str(out), "--space", "asvit", "--proxies", "params,macs",
          "--image-size", "32"])
    rows = read(out)
    assert [r["id"] for r in rows] == ["t0", "t1", "t2"] and all(float(r["macs"]) > 0 for r in rows)
    assert json.loads((tmp_path / "scores.csv.settings.json").read_text())["settings"]["images"] is None


def test_only_the_proxies_that_say_so_read_the_image_batch(tiny_topology):
    """Every registered proxy gives the same value on two different image batches unless it reads images."""
    batches = [ScoreSettings(image_size=32, batch_size=4, seed=seed).inputs() for seed in (1, 2)]
    for name, proxy in PROXIES.items():
        if proxy.timed:  # a time differs from call to call whatever the images
            continue
        values = []
        for inputs in batches:
            torch.manual_seed(0)
            values.append(proxy.fn(ASViT(tiny_topology), inputs))
        assert (values[0] != values[1]) == proxy.reads_images, name

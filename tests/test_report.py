"""src.report on run folders written as src.run writes them: paper rows, our AUCs, differences, not-run rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.config import compose_config
from src.evaluation.reproduction import config_hash
from src.report import FIGURE, MARKDOWN, ReportArgs, main, report

CM_GROUPS = {"DF": "ffpp_c23/Deepfakes/c23", "F2F": "ffpp_c23/Face2Face/c23", "FS": "ffpp_c23/FaceSwap/c23",
             "NT": "ffpp_c23/NeuralTextures/c23"}


def write_run(run_dir: Path, experiment: str, metrics: dict | None, seed: int = 1234) -> None:
    """config.yaml as src.run writes it (composed, resolved) and results.json with an evaluate stage."""
    cfg = compose_config([f"experiment={experiment}", f"seed={seed}"], output_dir=run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    stages = {"fit_head": {"seconds": 1.0}}
    if metrics is not None:
        stages["evaluate"] = {"metrics": metrics, "primary": cfg.head.name, "seconds": 2.0}
    (run_dir / "results.json").write_text(json.dumps({"task_name": experiment, "seed": seed, "stages": stages}))


def scorers(gmm: float, classifier: float) -> dict:
    return {"gmm": {"auc": gmm, "n_real": 140}, "classifier": {"auc": classifier},
            "fusion_gmm": {"auc": None, "note": "needs real and fake videos"}}


def table(text: str) -> dict[tuple[str, str, str], list[str]]:
    """(table, row, column) -> the remaining cells of each markdown row."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| table") and not line.startswith("| ---")]
    return {tuple(r[:3]): r[3:] for r in rows}


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, str, list]:
    runs = tmp_path_factory.mktemp("outputs")
    # the cross-manipulation row twice (two seeds), FaceSwap missing from the second run
    aucs = {"DF": (0.99, 0.95), "F2F": (0.98, 0.96), "FS": (0.97, 0.9), "NT": (0.96, 0.9)}
    write_run(runs / "paper_cross_manipulation/runs/a", "paper_cross_manipulation",
              {CM_GROUPS[c]: scorers(*a) for c, a in aucs.items()}, seed=1)
    second = {CM_GROUPS[c]: scorers(a[0] - 0.01, a[1]) for c, a in aucs.items() if c != "FS"}
    write_run(runs / "paper_cross_manipulation/runs/b", "paper_cross_manipulation", second, seed=2)
    write_run(runs / "paper_head_ocsvm/runs/a", "paper_head_ocsvm",
              {"ffpp": {"ocsvm": {"auc": 0.8}, "gmm": {"auc": 0.85}, "classifier": {"auc": 0.9}}})
    write_run(runs / "paper_compression_c40/runs/unfinished", "paper_compression_c40", None)
    (runs / "stray").mkdir()
    (runs / "stray/results.json").write_text("{}")  # no config.yaml: not a run
    out = runs / "report"
    rows = report(ReportArgs(runs=runs, out=out))
    return out, (out / MARKDOWN).read_text(), rows


def test_rows_with_runs_show_paper_ours_difference_and_runs(reported) -> None:
    _, text, _ = reported
    rows = table(text)
    paper, ours, diff, n, others, runs, hashes = rows[("cross_manipulation", "DiffFake", "DF")]
    assert (paper, ours, diff, n) == ("100.0", "gmm 98.50 ± 0.71", "-1.50", "2")
    assert others == "classifier 95.00 ± 0.00"  # fusion_gmm had no AUC: left out
    assert runs == "`paper_cross_manipulation/runs/a`, `paper_cross_manipulation/runs/b`"
    assert len(hashes.split(", ")) == 2  # different seeds, different configs
    paper, ours, diff, n, *_ = rows[("cross_manipulation", "DiffFake", "NT")]
    assert (paper, ours, diff, n) == ("98.9", "gmm 95.50 ± 0.71", "-3.40", "2")
    # one of the two runs has no FaceSwap group: the estimate is over the run that has it
    paper, ours, diff, n, *_ = rows[("cross_manipulation", "DiffFake", "FS")]
    assert (paper, ours, diff, n) == ("98.6", "gmm 97.00", "-1.60", "1")


def test_unpublished_rows_and_the_main_scorer_come_first(reported) -> None:
    _, text, _ = reported
    paper, ours, diff, n, others, *_ = table(text)[("head_ablation", "OC-SVM", "FF++ c23")]
    assert (paper, ours, diff, n) == ("not published", "ocsvm 80.00", "—", "1")
    assert others == "classifier 90.00; gmm 85.00"


def test_rows_without_a_finished_run_are_listed_as_not_run(reported) -> None:
    _, text, rows = reported
    cells = table(text)
    assert len(cells) == len(rows) == 50  # every (table, row, column) of the paper_* experiments
    not_run = {k: v for k, v in cells.items() if v[1] == "not run"}
    assert len(not_run) == 50 - 5
    assert ("compression", "DiffFake", "c40 DF") in not_run  # its only run never reached evaluate
    assert not_run[("cross_dataset", "DiffFake", "Celeb-DF v2")][5] == "run `paper_celebdf` or `paper_cross_dataset`"
    ablation = [k[1:] for k in cells if k[0] == "operator_ablation_cross_dataset"]
    assert ablation[:5] == [("ABS", "Celeb-DF v2"), ("ABS", "DeeperForensics-1.0"), ("ABS", "ForgeryNet"),
                            ("ABS", "FaceShifter"), ("SUB", "Celeb-DF v2")]  # the paper's order
    assert [row for row, _ in ablation[::4]] == ["ABS", "SUB", "SUB²", "SUB³"]
    assert "5 of 50 paper rows have a run" in text


def test_figure_is_written(reported) -> None:
    out, _, _ = reported
    assert (out / FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_hash_ignores_where_things_live_but_not_what_is_computed(tmp_path) -> None:
    def plain(overrides: list[str], run_dir: Path) -> dict:
        return OmegaConf.to_container(compose_config(overrides, output_dir=run_dir), resolve=True)

    base = plain(["experiment=paper_op_cube"], tmp_path / "a")
    assert config_hash(plain(["experiment=paper_cross_manipulation", "paths.data_dir=/elsewhere"], tmp_path / "b")) \
        == config_hash(base)  # the same computation under another name, folder and data root
    assert config_hash(plain(["experiment=paper_op_cube", "seed=7"], tmp_path / "a")) != config_hash(base)


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys) -> None:
    for argv, message in ((["out=x"], "error: missing runs=..."), (["runs"], "error: unknown argument 'runs'"),
                          ([f"runs={tmp_path / 'none'}"], "does not exist; pass runs=")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1

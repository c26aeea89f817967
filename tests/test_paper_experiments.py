"""Every paper_* experiment is the reference's setup and carries the paper's number for each of its rows.

The numbers are checked against the copy below, and that copy against ../shared/paper_results.md (the
transcription of the paper's tables) when that file is there: a wrong number in an experiment file fails.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
from omegaconf import DictConfig, OmegaConf

from src.config import compose_config, group_choices
from src.models.extractor.backbones import backbone_data_config
from tests.conftest import REPO_ROOT, SHARED

PAPER = [e for e in group_choices("experiment") if e.startswith("paper_")]
BASE = "paper_protocol"  # the shared protocol; its run is paper_compression_c23's
RESULTS_MD = SHARED / "paper_results.md"
NOT_PUBLISHED = {"head_ablation", "backbone_ablation"}
OTHER_BACKBONES = {"paper_backbone_resnet50": "resnet50.tv_in1k", "paper_backbone_xception": "legacy_xception"}
OPERATOR_OF_ROW = {"ABS": "abs", "SUB": "sub", "SUB²": "sq", "SUB³": "cube"}
OPERATOR_OF_TABLE = {"cross_manipulation": "cube", "cross_dataset": "sq", "compression": "sq",
                     "head_ablation": "sq", "backbone_ablation": "sq"}
# (table, row) -> {column: AUC}, as in paper_results.md (slides 17-19)
CM, CD = ("DF", "F2F", "FS", "NT"), ("Celeb-DF v2", "DeeperForensics-1.0", "ForgeryNet", "FaceShifter")
PUBLISHED = {
    ("operator_ablation_cross_manipulation", "ABS"): dict(zip(CM, (100, 99.6, 97.5, 98.6), strict=True)),
    ("operator_ablation_cross_manipulation", "SUB"): dict(zip(CM, (100, 99.6, 97.9, 98.6), strict=True)),
    ("operator_ablation_cross_manipulation", "SUB²"): dict(zip(CM, (100, 99.6, 98.2, 98.6), strict=True)),
    ("operator_ablation_cross_manipulation", "SUB³"): dict(zip(CM, (100, 99.6, 98.6, 98.9), strict=True)),
    ("cross_manipulation", "DiffFake"): dict(zip(CM, (100, 99.6, 98.6, 98.9), strict=True)),
    ("operator_ablation_cross_dataset", "ABS"): dict(zip(CD, (74.5, 87.8, 80.9, 90.7), strict=True)),
    ("operator_ablation_cross_dataset", "SUB"): dict(zip(CD, (75.1, 89.8, 80.0, 92.4), strict=True)),
    ("operator_ablation_cross_dataset", "SUB²"): dict(zip(CD, (76.1, 91.0, 83.7, 92.5), strict=True)),
    ("operator_ablation_cross_dataset", "SUB³"): dict(zip(CD, (75.7, 91.0, 83.0, 91.1), strict=True)),
    ("cross_dataset", "DiffFake"): dict(zip(CD, (76.1, 91.0, 83.7, 92.5), strict=True)),
    ("compression", "DiffFake"): {"c40 DF": 78.5, "c40 FS": 58.2, "c23 DF": 89.3, "c23 FS": 68.9},
}
# where each table sits in paper_results.md: (section heading start, index of the table in that section)
MD_TABLES = {"operator_ablation_cross_manipulation": ("Cross-manipulation", 0),
             "cross_manipulation": ("Cross-manipulation", 1), "operator_ablation_cross_dataset": ("Cross-dataset", 0),
             "cross_dataset": ("Cross-dataset", 1), "compression": ("Compression", 0)}
MD_COLUMN = {"Celeb-DF v2": "CDF", "DeeperForensics-1.0": "DF1.0", "ForgeryNet": "FNet", "FaceShifter": "FSh"}


@cache
def _compose(name: str) -> DictConfig:
    return compose_config([f"experiment={name}"])


def _entries(name: str) -> list[dict]:
    return OmegaConf.to_container(_compose(name).paper, resolve=True)


def markdown_tables(text: str) -> dict[str, list[list[dict[str, str]]]]:
    """Section heading -> its markdown tables, each a list of {header: cell} rows."""
    sections: dict[str, list[list[dict[str, str]]]] = {}
    heading, header, table = "", None, None
    for line in text.splitlines():
        if line.startswith("## "):
            heading, header = line[3:].strip(), None
            sections[heading] = []
        elif line.startswith("|") and not re.fullmatch(r"[|\-\s]+", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header, table = cells, []
                sections[heading].append(table)
            else:
                table.append(dict(zip(header, cells, strict=True)))
        elif not line.startswith("|"):
            header = None
    return sections


def published_auc(sections: dict[str, list[list[dict[str, str]]]], table: str, row: str, column: str) -> float:
    """The AUC of (table, row, column) in paper_results.md; a row is named by the first word of its first cell."""
    section, index = MD_TABLES[table]
    rows = next(t for h, ts in sections.items() if h.startswith(section) for t in ts[index:index + 1])
    (match,) = [r for r in rows if next(iter(r.values())).split()[0] == row]
    return float(match[column if column in match else MD_COLUMN[column]])


def test_every_table_row_and_column_has_an_experiment() -> None:
    found = {(e["table"], e["row"], e["column"]) for name in PAPER for e in _entries(name)}
    expected = {(t, r, c) for (t, r), cols in PUBLISHED.items() for c in cols}
    assert expected <= found
    rows = {(e["table"], e["row"]) for name in PAPER for e in _entries(name) if e["table"] in NOT_PUBLISHED}
    assert rows == {("head_ablation", "GMM (k=3)"), ("head_ablation", "OC-SVM"), ("head_ablation", "Deep SVDD"),
                    ("backbone_ablation", "EfficientNet-B4"), ("backbone_ablation", "ResNet-50"),
                    ("backbone_ablation", "Xception")}


@pytest.mark.skipif(not RESULTS_MD.is_file(), reason=f"no {RESULTS_MD} (set DIFFFAKE_SHARED)")
def test_the_copied_numbers_are_those_of_paper_results_md() -> None:
    sections = markdown_tables(RESULTS_MD.read_text())
    for (table, row), columns in PUBLISHED.items():
        for column, auc in columns.items():
            assert published_auc(sections, table, row, column) == auc, (table, row, column)


@pytest.mark.parametrize("name", PAPER)
def test_paper_experiment_is_the_reference_setup_with_its_paper_numbers(name: str) -> None:
    cfg = _compose(name)
    entries = _entries(name)
    assert entries or name == BASE, f"{name} has no `paper` block"
    head = OmegaConf.to_container(cfg.head, resolve=True)
    compared = OmegaConf.to_container(cfg.heads, resolve=True)  # fitted beside `head` (eval.compare_heads)
    for h in (head, *compared.values()):
        if h["name"] == "gmm":
            assert (h["n_components"], h["covariance_type"], h["init_params"]) == (3, "full", "kmeans")
            assert (h["pca_dim"], h["max_train"], h["max_iter"]) == (None, None, 250)
            assert (h["reg_covar"], h["tol"], h["dtype"]) == (1e-6, 1e-3, "float32")
        if h["name"] == "ocsvm":
            assert (h["kernel"], h["gamma"], h["nu"]) == ("rbf", "auto", 0.5)
    if name not in OTHER_BACKBONES:
        assert cfg.backbone.name == "tf_efficientnet_b4.ap_in1k"
        assert backbone_data_config(cfg.backbone) == {"mean": [0.5] * 3, "std": [0.5] * 3, "image_size": 224}
    else:
        assert (cfg.backbone.name, cfg.backbone.image_size) == (OTHER_BACKBONES[name], 224)
    for e in entries:
        assert e["scorer"] == head["name"] and e["group"], e
        ablation = e["table"].startswith("operator_ablation")
        operator = OPERATOR_OF_ROW[e["row"]] if ablation else OPERATOR_OF_TABLE[e["table"]]
        assert cfg.pair_op.name == operator, f"{name}: {e['table']} uses {operator}"
        if e["table"] in NOT_PUBLISHED:
            assert e["auc"] is None and e["note"] == "not published", e
        else:
            assert e["auc"] == PUBLISHED[(e["table"], e["row"])][e["column"]], e


def test_each_paper_row_lives_in_one_experiment() -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for name in PAPER:
        for e in _entries(name):
            key = (e["table"], e["row"], e["column"])
            single = name.removeprefix("paper_") in ("celebdf", "deeperforensics", "forgerynet", "faceshifter")
            if single:  # the one-dataset runs repeat paper_cross_dataset's columns on purpose
                assert _entries("paper_cross_dataset").count(e) == 1
                continue
            assert key not in seen, f"{key} is in both {seen[key]} and {name}"
            seen[key] = name


def test_groups_name_what_the_runs_evaluate() -> None:
    for name in PAPER:
        cfg = _compose(name)
        evaluated = {d.name for d in cfg.test_data.values()}
        evaluated |= {cfg.data.name} if cfg.eval.include_train_dataset else set()
        for e in _entries(name):
            dataset, *rest = e["group"].split("/")
            assert dataset in evaluated, (name, e["group"])
            if rest:
                manipulation, compression = rest
                data = next(d for d in [cfg.data, *cfg.test_data.values()] if d.name == dataset)
                assert manipulation in data.options.manipulations and [compression] == list(data.options.compressions)


def _readme_rows() -> dict[str, str]:
    """Experiment name -> last cell (paper AUC) of its row in the README's experiments table; a row naming
    `paper_<family>_a` / `_b` stands for paper_<family>_a and paper_<family>_b."""
    rows = {}
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([a-z0-9_]+)`", cells[0]) if line.startswith("| `paper_") else []
        for n in names:
            rows[n if n.startswith("paper_") else "_".join(names[0].split("_")[:2]) + n] = cells[-1]
    return rows


@pytest.mark.parametrize("name", [n for n in PAPER if n != BASE])
def test_readme_experiments_table_carries_the_paper_auc_of_every_paper_experiment(name: str) -> None:
    cell = _readme_rows().get(name)
    assert cell is not None, f"README's experiments table has no row for {name}"
    entries = _entries(name)
    if all(e["auc"] is None for e in entries):
        assert cell == "not published"
    else:
        assert [float(v) for v in cell.split(" / ")] == [e["auc"] for e in entries], (name, cell)

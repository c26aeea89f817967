"""The bundle of a finished tiny demo run: ONNX parity with PyTorch, the same scores as the run, a manifest that
catches every changed, missing or extra file, and scoring from a copy with the run, the artifact store and
experiments/ out of reach."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from omegaconf import OmegaConf

from data_modules.crops import inference_crops
from data_modules.preprocess import sample_frames
from data_modules.records import select_rows
from src.api import STILL_IMAGE, Detector
from src.artifacts.faces import open_face_cache
from src.artifacts.store import ArtifactStore
from src.bundle.layout import MANIFEST
from src.bundle.load import open_bundle
from src.bundle.manifest import BundleError
from src.export import main as export_main
from src.models.extractor.export import OPSET
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import load_extractor
from src.models.extractor.onnx_inference import OnnxEmbedder
from src.score import ScoreArgs, score_videos
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _media(tiny_run: Path) -> Path:
    return tiny_run.parent / "artifacts" / "demo_media_tiny"


def _test_videos(tiny_run: Path) -> list[Path]:
    media = _media(tiny_run)
    return [media / p for p, split in json.loads((media / "splits.json").read_text()).items() if split == "test"]


def _copy_with_flipped_byte(bundle: Path, name: str, out: Path) -> Path:
    copy = shutil.copytree(bundle, out)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    return copy


def test_the_bundle_holds_every_part_hashed_and_nothing_pickled(tiny_bundle, tiny_run) -> None:
    opened = open_bundle(tiny_bundle)
    files = set(opened.manifest.files)
    assert files == {p.relative_to(tiny_bundle).as_posix() for p in tiny_bundle.rglob("*") if p.is_file()} - {MANIFEST}
    assert {"extractor/model.onnx", "extractor/model.safetensors", "extractor/model.json", "detector/scorer.json",
            "detector/calibration.json", "preprocessing.json", "face.json", "config.yaml", "metrics.json"} <= files
    assert {f"detector/heads/{h}/head.safetensors" for h in ("gmm", "ocsvm", "deep_svdd")} <= files
    assert opened.manifest.package_version == "0.1.0" and opened.manifest.versions["onnxruntime"]
    assert len(opened.bundle_id) == 12 and opened.manifest.checksum.startswith(opened.bundle_id)
    assert opened.metrics()["stages"]["evaluate"] == json.loads((tiny_run / "results.json").read_text())["stages"]["evaluate"]
    assert opened.config().seed == OmegaConf.load(tiny_run / "config.yaml").seed
    settings = opened.settings
    assert (settings.image_size, settings.frames_per_video, settings.crop_margin) == (96, 8, 0.125)
    assert settings.face["backend"] == "dlib" and len(settings.mean) == len(settings.std) == 3
    # nothing pickled: no pickle protocol header and no torch/pickle file types anywhere
    assert not [f for f in files if (tiny_bundle / f).read_bytes()[:1] == b"\x80" or Path(f).suffix in (".pt", ".pkl", ".ckpt")]
    assert all((tiny_bundle / f).stat().st_mode & 0o044 == 0o044 for f in files)  # readable by others


def test_onnx_export_has_opset_17_a_dynamic_batch_and_matches_torch_to_1e4(tiny_bundle, tiny_run) -> None:
    model = onnx.load(str(tiny_bundle / "extractor" / "model.onnx"))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    cfg = OmegaConf.load(tiny_run / "config.yaml")
    cache = open_face_cache(ArtifactStore(cfg.paths.artifact_dir), cfg.data, cfg.face)
    crops = [c for row in select_rows(cache.read_index(), "test")[:4] for c in inference_crops(cache, row.video_id, 96)[0]]
    settings = open_bundle(tiny_bundle).settings
    torch_emb, torch_logit = FrameEmbedder(load_extractor(tiny_bundle / "extractor"), 64)(crops)
    for batch in (1, 7, 64):  # the batch axis is dynamic: any size gives the same numbers
        onnx_emb, onnx_logit = OnnxEmbedder(tiny_bundle / "extractor" / "model.onnx", 96, list(settings.mean),
                                            list(settings.std), batch)(crops)
        assert onnx_emb.shape == torch_emb.shape == (len(crops), 1280) and onnx_emb.dtype == np.float32
        assert np.abs(onnx_emb - torch_emb).max() < 1e-4
        assert np.abs(onnx_logit - torch_logit).max() < 1e-4


def test_bundle_on_onnx_scores_every_test_video_like_the_run(tiny_bundle, tiny_run, tmp_path) -> None:
    folder = tmp_path / "test_videos"
    folder.mkdir()
    videos = _test_videos(tiny_run)
    for video in videos:
        (folder / video.name).symlink_to(video)
    from_run = {Path(r["video"]).name: r for r in score_videos(ScoreArgs(video=folder, run=tiny_run, out=tmp_path / "a"))}
    from_bundle = score_videos(ScoreArgs(video=folder, bundle=tiny_bundle, backend="onnx", out=tmp_path / "b"))
    assert len(from_bundle) == len(videos) == 16
    worst: dict[str, float] = {}
    for result in from_bundle:
        reference = from_run[Path(result["video"]).name]
        assert result["bundle"] == open_bundle(tiny_bundle).bundle_id and "bundle" not in reference
        assert result["decisions"] == reference["decisions"]
        assert result["frames_skipped"] == reference["frames_skipped"]
        assert set(result["scores"]) == set(reference["scores"])
        for name, value in result["scores"].items():
            # scores agree to 1e-4 (relative for the GMM's log-likelihoods, which are in the tens)
            assert value == pytest.approx(reference["scores"][name], rel=1e-4, abs=1e-4), name
            worst[name] = max(worst.get(name, 0.0), abs(value - reference["scores"][name]))
    print("max |bundle(onnx) - run(torch)| per scorer:", {k: f"{v:.1e}" for k, v in worst.items()})


def test_a_still_image_gets_the_classifier_and_says_why_not_the_heads(tiny_bundle, tiny_run, tmp_path) -> None:
    detector = Detector.load(tiny_bundle)
    video = next(v for v in _test_videos(tiny_run) if v.parent.name == "real")
    [(_, frame)] = sample_frames(video, 1)
    image = tmp_path / "still.png"
    import cv2

    cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    result = detector.score_image(image, saliency=True)
    assert result.reason == STILL_IMAGE and result.frames_used == result.frames_sampled == 1
    assert result.scores["classifier"] is not None
    assert {k for k, v in result.scores.items() if v is not None} == {"classifier"} == set(result.decisions)
    assert len(result.saliency) == 1 and result.saliency[0].heatmap.shape == (96, 96)
    assert result.scores["classifier"] == pytest.approx(detector.score_image(frame).scores["classifier"], abs=1e-6)
    # through src.score: an image file is a still, its JSON says why the heads did not score
    (saved,) = score_videos(ScoreArgs(video=image, bundle=tiny_bundle, out=tmp_path / "out", saliency=True))
    assert saved["reason"] == STILL_IMAGE and "two frames" in json.loads((tmp_path / "out" / "still.png.json").read_text())["reason"]
    assert (tmp_path / "out" / "still.png.saliency.png").stat().st_size > 5_000


def test_score_frames_returns_saliency_maps_of_the_most_suspicious_frames(tiny_bundle, tiny_run, tmp_path) -> None:
    detector = Detector.load(tiny_bundle, backend="torch")
    video = next(v for v in _test_videos(tiny_run) if v.parent.name != "real")
    frames = [f for _, f in sample_frames(video, 8)]
    result = detector.score_frames(frames, saliency=True, name=video.stem)
    probs = dict(zip(result.timeline.frame_indices, result.timeline.frame_probs, strict=True))
    top = sorted(sorted(probs, key=lambda f: -probs[f])[:8])
    assert [m.frame for m in result.saliency] == top
    for m in result.saliency:
        assert m.probability == pytest.approx(probs[m.frame], abs=1e-6)
        assert m.heatmap.shape == (96, 96) and 0.0 <= m.heatmap.min() and m.heatmap.max() <= 1.0
        assert m.crop.shape == (96, 96, 3) and m.overlay().shape == (96, 96, 3)
    assert result.scores == pytest.approx(detector.score_video(video).scores, abs=1e-5)
    (saved,) = score_videos(ScoreArgs(video=video, bundle=tiny_bundle, out=tmp_path, saliency=True, timeline=True))
    assert saved["saliency_frames"] == top
    assert (tmp_path / f"{video.name}.saliency.png").stat().st_size > 10_000


def test_flipping_one_byte_of_any_file_fails_loading_and_names_it(tiny_bundle, tmp_path) -> None:
    names = sorted(p.relative_to(tiny_bundle).as_posix() for p in tiny_bundle.rglob("*") if p.is_file())
    assert len(names) == 16
    for n, name in enumerate(names):
        copy = _copy_with_flipped_byte(tiny_bundle, name, tmp_path / str(n))
        with pytest.raises(BundleError, match=rf"{name} (was changed|is damaged)") as err:
            Detector.load(copy)
        assert "python -m src.export" in str(err.value)
        shutil.rmtree(copy)
    # a manifest edited to still parse (a version string), or re-indented, is caught by its checksum
    copy = shutil.copytree(tiny_bundle, tmp_path / "edited")
    text = (copy / MANIFEST).read_text()
    (copy / MANIFEST).write_text(text.replace('"package_version": "0.1.0"', '"package_version": "0.1.1"'))
    with pytest.raises(BundleError, match="manifest.json was changed after export"):
        open_bundle(copy)
    (copy / MANIFEST).write_text(json.dumps(json.loads(text)))
    with pytest.raises(BundleError, match="manifest.json was changed after export"):
        open_bundle(copy)


def test_missing_and_extra_files_are_named(tiny_bundle, tmp_path) -> None:
    copy = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    (copy / "detector" / "heads" / "ocsvm" / "head.json").unlink()
    (copy / "extractor" / "notes.txt").write_text("added later")
    with pytest.raises(BundleError) as err:
        open_bundle(copy)
    message = str(err.value)
    assert "detector/heads/ocsvm/head.json is missing" in message
    assert "extractor/notes.txt is not in manifest.json (an extra file)" in message
    (copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match="is not a bundle"):
        open_bundle(copy)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_bundle(tmp_path / "nowhere")


def test_a_changed_bundle_is_one_error_line_on_the_command_line(tiny_bundle, tiny_run, tmp_path) -> None:
    copy = _copy_with_flipped_byte(tiny_bundle, "detector/calibration.json", tmp_path / "bundle")
    video = _test_videos(tiny_run)[0]
    done = subprocess.run([sys.executable, "-m", "src.score", f"bundle={copy}", f"video={video}", f"out={tmp_path}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert lines[-1].startswith("error: bundle ") and "detector/calibration.json was changed" in lines[-1]


def test_a_copied_bundle_scores_with_the_run_store_and_configs_out_of_reach(tiny_bundle, tiny_run, tmp_path) -> None:
    """Only the package code (without experiments/) and the bundle: no run dir, no artifact store."""
    code = tmp_path / "code"
    for package in ("src", "data_modules"):
        shutil.copytree(REPO_ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    copy = shutil.copytree(tiny_bundle, tmp_path / "elsewhere" / "my_bundle")
    video = shutil.copy(next(v for v in _test_videos(tiny_run) if v.parent.name != "real"), tmp_path / "suspect.mp4")
    expected = Detector.load(tiny_bundle).score_video(video).to_json()
    nowhere = tmp_path / "nowhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIFFFAKE_")}
    env.update({"PYTHONPATH": str(code), "DIFFFAKE_ROOT": str(nowhere), "DIFFFAKE_ARTIFACTS": str(nowhere),
                "DIFFFAKE_DATA": str(nowhere), "DIFFFAKE_LOGS": str(nowhere), "DIFFFAKE_WEIGHTS": str(nowhere)})
    script = ("import sys, src.config, src.score; "
              "assert not src.config.CONFIG_DIR.exists() and src.score.__file__.startswith(sys.argv[1]); "
              "src.score.main(sys.argv[2:])")
    hidden = tiny_run.parent.with_name(tiny_run.parent.name + ".hidden")
    tiny_run.parent.rename(hidden)  # the run directory and the artifact store, out of reach
    try:
        done = subprocess.run([sys.executable, "-c", script, str(code), f"bundle={copy}", f"video={video}",
                               "out=scores"], cwd=tmp_path / "elsewhere", env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        hidden.rename(tiny_run.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((tmp_path / "elsewhere" / "scores" / "suspect.mp4.json").read_text())
    assert saved["bundle"] == open_bundle(tiny_bundle).bundle_id and saved["frames_used"] > 0
    assert saved["decisions"] == expected["decisions"]
    assert saved["scores"] == pytest.approx(expected["scores"], abs=1e-6)


def test_export_refuses_to_overwrite_and_explains(tiny_bundle, tiny_run, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        export_main([f"run={tiny_run}", f"out={tiny_bundle}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err == [f"error: {tiny_bundle} already exists: pass overwrite=true to replace it, "
                                                 "or choose another out="]
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        export_main([f"run={tiny_run}", f"out={tmp_path / 'keep'}", "overwrite=true"])
    assert "is not a bundle (no manifest.json); not replacing it" in capsys.readouterr().err
    assert (tmp_path / "keep" / "notes.txt").read_text() == "mine"
    with pytest.raises(SystemExit):
        export_main([f"run={tmp_path}", f"out={tmp_path / 'b'}"])
    assert "is not a run directory (no config.yaml)" in capsys.readouterr().err

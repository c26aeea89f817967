"""A store several processes and people share: locked builds, files with the umask's mode, and a store that
cannot be written failing at once in one line."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from data_modules.io import atomic_save_npz, atomic_write_json, atomic_write_text
from src.artifacts.store import ArtifactStore, StoreError
from tests.conftest import REPO_ROOT

BUILD_SLOWLY = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from src.artifacts.store import ArtifactStore

    log = Path(sys.argv[2])

    def builder(work):
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\\n")
        time.sleep(2.0)  # long enough that the second process arrives while the first builds
        (work / "value.txt").write_text(str(os.getpid()))
        return {"builder": os.getpid()}

    path = ArtifactStore(sys.argv[1]).get_or_build("kind", "key1", builder)
    print((path / "value.txt").read_text())
""")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        with (tmp_path / "plain.txt").open("w") as handle:
            handle.write("x")
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        atomic_save_npz(tmp_path / "c.npz", x=__import__("numpy").zeros(2))
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("a.txt", "b.json", "c.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_two_processes_building_one_artifact_build_it_once(tmp_path: Path) -> None:
    store, log = tmp_path / "store", tmp_path / "builders.log"
    script = tmp_path / "build.py"
    script.write_text(BUILD_SLOWLY)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), str(store), str(log)], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    builders = log.read_text().split()
    assert len(builders) == 1  # the second process waited on <key>.lock and then reused the first one's result
    assert [out.strip() for out, _ in outs] == builders * 2
    final = ArtifactStore(store).path("kind", "key1")
    assert json.loads((final / "meta.json").read_text()) == {"builder": int(builders[0])}
    assert not ArtifactStore(store).partial_path("kind", "key1").exists()
    assert (store / "kind" / "key1.lock").is_file()


def test_a_full_store_fails_at_once_in_one_line(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    ArtifactStore(tmp_path, min_free_bytes=1).check_usable()
    with pytest.raises(StoreError, match=r"GiB free, less than the .* GiB a run needs: free some space or "
                                         r"choose another paths.artifact_dir") as info:
        ArtifactStore(tmp_path / "store", min_free_bytes=free * 2).check_usable()
    assert "\n" not in str(info.value) and str(tmp_path / "store") in str(info.value)


def _make_read_only(folder: Path) -> bool:
    """chmod for an ordinary user; root ignores modes, so chattr +i there (False when neither works)."""
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return True
    return shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(folder)],
                                                                  capture_output=True).returncode == 0


def test_a_read_only_store_fails_at_once_in_one_line(tmp_path: Path) -> None:
    store = tmp_path / "ro"
    store.mkdir()
    if not _make_read_only(store):
        pytest.skip("cannot make a folder read-only here")
    try:
        with pytest.raises(StoreError, match=r"is not writable \(.*\): fix its permissions or choose another "
                                             r"paths.artifact_dir"):
            ArtifactStore(store).check_usable()
    finally:
        subprocess.run(["chattr", "-i", str(store)], capture_output=True)
        store.chmod(0o755)


def test_entry_points_refuse_an_unwritable_store_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    store = blocker / "store"  # a folder cannot be made under a file, whoever runs this
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    media = tmp_path / "media"
    (media / "real").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "src.preprocess", "data=demo", f"data.root={media}",
                           f"paths.artifact_dir={store}"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert lines[-1].startswith("error: artifact store ") and str(store) in lines[-1]
    assert "is not writable" in lines[-1]

    from src.config import compose_config
    from src.run import run_stages

    run_dir = tmp_path / "run"
    cfg = compose_config(["experiment=demo_tiny", "extras.print_config=false", f"paths.artifact_dir={store}"],
                         run_dir)
    with pytest.raises(StoreError, match="is not writable"):
        run_stages(cfg)
    assert not (run_dir / "config.yaml").exists()  # nothing written, no stage started

"""What a run of the credentials check costs on a big tree grows with the files it reads,
not with the tree: counted (rows written, records sent, folders looked up), never timed.
bench/credentials_tree.py times the same on 1,000 to 100,000 files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.credentials.families import FAMILIES
from agent.credentials.locate import stat_key
from agent.credentials.scan import scan
from agent.paths import Paths
from agent.store import CachedPath, Store
from tests.conftest import Machine
from tests.test_credentials import reachable  # noqa: F401 - a fixture used below
from tests.test_credentials_tree import WEAK, run_once, tree

FILES = 12


def count_scan_cache_writes(state: Path) -> sqlite3.Connection:
    """A counter of the rows written to the store's scan cache, kept by SQLite itself (a
    trigger the store's own connection fires): read it with written()."""
    conn = sqlite3.connect(state / "store.db")
    conn.executescript(
        "CREATE TABLE IF NOT EXISTS written (n INTEGER);"
        "DELETE FROM written; INSERT INTO written VALUES (0);"
        "CREATE TRIGGER IF NOT EXISTS count_writes AFTER INSERT ON scan_cache "
        "BEGIN UPDATE written SET n = n + 1; END;"
    )
    conn.commit()
    return conn


def written(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT n FROM written").fetchone()[0])


def read_all() -> None:
    """Run the check until it has read every file."""
    for _ in range(FILES + 2):
        found, notes = run_once()
        if not isinstance(found, str) and not any("scanned" in n for n in notes):
            return
    raise AssertionError("the check did not finish reading")


def test_a_run_writes_the_rows_of_the_files_it_read_not_the_tree(machine: Machine) -> None:
    tree(machine.home, {f".env.part{n:02d}": f"APP_ENV=prod{n}\n" for n in range(FILES)})
    run_once()  # reads one file, and keeps every path it looked at
    counter = count_scan_cache_writes(Paths.from_environment().state)
    try:
        run_once()
        assert written(counter) == 1  # the file read; the others wait as they were
        read_all()
        before = written(counter)
        run_once()  # nothing changed: nothing is written
        assert written(counter) == before
        (machine.home / "src" / "app" / ".env.part03").write_text(f"DB_PASSWORD={WEAK}\n")
        found, _ = run_once()
        assert isinstance(found, list) and len(found) == 1
        assert written(counter) == before + 1
    finally:
        counter.close()


def test_a_file_gone_from_the_tree_leaves_the_cache(machine: Machine) -> None:
    files = tree(machine.home, {f".env.part{n}": f"APP_ENV=prod{n}\n" for n in range(3)})
    read_all()
    files[".env.part1"].unlink()
    assert run_once() == ([], [])
    conn = sqlite3.connect(Paths.from_environment().state / "store.db")
    paths = {path for (path,) in conn.execute("SELECT path FROM scan_cache")}
    conn.close()
    assert str(files[".env.part0"]) in paths and str(files[".env.part2"]) in paths
    assert str(files[".env.part1"]) not in paths


def test_a_damaged_row_is_looked_at_again_and_replaced(machine: Machine) -> None:
    files = tree(machine.home, {".env.a": f"DB_PASSWORD={WEAK}\n", ".env.b": "APP_ENV=prod\n"})
    read_all()
    state = Paths.from_environment().state
    conn = sqlite3.connect(state / "store.db")
    conn.execute(
        "UPDATE scan_cache SET record = '{not json' WHERE path = ?", (str(files[".env.a"]),)
    )
    conn.commit()
    conn.close()
    found, notes = run_once()
    assert isinstance(found, list) and [f.subject for f in found] == ["~/src/app/.env.a"]
    assert notes == []
    conn = sqlite3.connect(state / "store.db")
    (record,) = conn.execute(
        "SELECT record FROM scan_cache WHERE path = ?", (str(files[".env.a"]),)
    ).fetchone()
    conn.close()
    assert record.startswith("{") and "DB_PASSWORD" in record


def test_the_scanner_names_an_unchanged_file_and_does_not_repeat_it(tmp_path: Path) -> None:
    """What goes to the scanner and back for a file read before is its path and signature:
    the answer grows with the files read, not with what the tree holds."""
    files = tree(tmp_path, {f".env.part{n:02d}": f"DB_PASSWORD={WEAK}{n}\n" for n in range(FILES)})
    request = {
        "key": "00" * 32,
        "home": str(tmp_path),
        "settings": {"include_system": False, "project_roots": ["~/src"]},
    }
    cache = {str(p): ["dotenv", list(stat_key(p.stat()))] for p in files.values()}
    changed = files[".env.part05"]
    changed.write_text(f"DB_PASSWORD={WEAK}\nAPP_ENV=prod\n")
    answer = scan({**request, "cache": cache}, FAMILIES, {})
    assert list(answer["files"]) == [str(changed)]
    assert answer["read"] == 1
    assert set(answer["same"]) == {str(p) for p in files.values()} - {str(changed)}
    assert answer["same"][str(files[".env.part00"])] == "~/src/app/.env.part00"
    assert "DB_PASSWORD" not in repr(answer["same"])


def test_folders_are_looked_up_once_a_run_not_once_a_finding(
    reachable: Machine,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = tree(
        reachable.home, {f".env.part{n:02d}": f"DB_PASSWORD={WEAK}\n" for n in range(FILES)}
    )
    for path in files.values():
        path.chmod(0o644)  # readable by others: every folder above is looked at
    read_all()
    looked: list[str] = []
    real_stat = os.stat

    def counted(path: str, *args: Any, **kwargs: Any) -> os.stat_result:
        looked.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counted)
    found, _ = run_once()
    assert isinstance(found, list) and len(found) == FILES
    assert all("Other users of this computer can read the file" in f.message for f in found)
    above = {str(folder) for path in files.values() for folder in path.parents}
    folders = [p for p in looked if p in above]
    assert sorted(folders) == sorted(above), "each folder above the files, once"


def test_keep_scan_cache_without_previous_replaces_everything(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state") as store:
        store.keep_scan_cache("s", "v1", [CachedPath("/a", (1, 2, 3, 4), {"x": 1})])
        store.keep_scan_cache("s", "v2", [CachedPath("/b", (1, 2, 3, 4), {"x": 2})])
        assert store.scan_cache("s", "v1") == []
        previous = store.scan_cache("s", "v2")
        store.keep_scan_cache(
            "s", "v2", [CachedPath("/c", None, None), *previous], previous=previous
        )
        assert sorted(r.path for r in store.scan_cache("s", "v2")) == ["/b", "/c"]
        store.keep_scan_cache("s", "v3", [CachedPath("/d", None, None)], previous=[])
        assert store.scan_cache("s", "v2") == []


def test_each_file_of_the_walk_is_looked_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tree(tmp_path, {f".env.part{n:02d}": f"DB_PASSWORD={WEAK}{n}\n" for n in range(FILES)})
    looked: list[str] = []
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def counted(path: Any, *args: Any, real: Any = real, **kwargs: Any) -> os.stat_result:
            looked.append(os.fspath(path))
            return real(path, *args, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(os, name, counted)
    answer = scan(
        {
            "key": "00" * 32,
            "home": str(tmp_path),
            "settings": {"include_system": False, "project_roots": ["~/src"]},
        },
        FAMILIES,
        {},
    )
    assert answer["read"] == FILES
    # Listing the folder says what each entry is; a file is then looked at once (its
    # signature, for what is watched and what is read), however many steps need it.
    per_file = [looked.count(str(path)) for path in files.values()]
    assert max(per_file) <= 1, per_file

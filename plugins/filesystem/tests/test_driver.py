"""Driver-specific behaviour: parameters, on-disk layout, listing, cleanup
of emptied directories, confinement to the root."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest

import regstore
from regstore import (
    InvalidParameterError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
)
from regstore_filesystem.driver import FilesystemDriver
from regstore_filesystem.uploads import STAGING_DIR


def visible_tree(root: Path) -> list[str]:
    """Every file and directory under root, relative, sorted; the staging
    area only if it holds something (put_content keeps it while the store
    is in use)."""
    staging = root / STAGING_DIR
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p != staging or any(staging.iterdir())
    )


# -- parameters -------------------------------------------------------------


def test_parameters_are_coerced_from_strings(root: Path) -> None:
    driver = regstore.create("filesystem", {"rootdirectory": str(root), "maxthreads": "100"})
    inner = driver.inner  # type: ignore[attr-defined]
    assert isinstance(inner, FilesystemDriver)
    assert inner.maxthreads == 100
    assert inner.root == str(root)


def test_defaults_match_distribution() -> None:
    driver = regstore.create("filesystem")
    inner = driver.inner  # type: ignore[attr-defined]
    assert inner.root == "/var/lib/registry"
    assert inner.maxthreads == 100


@pytest.mark.parametrize("value", [24, "10", 0])
def test_maxthreads_below_25_is_rejected_naming_the_key(root: Path, value: object) -> None:
    with pytest.raises(InvalidParameterError, match="maxthreads") as info:
        regstore.create("filesystem", {"rootdirectory": str(root), "maxthreads": value})
    assert info.value.key == "maxthreads"
    assert "from 25 to 10000" in str(info.value)


@pytest.mark.parametrize("value", [10**12, "1000000000000", 100_001])
def test_maxthreads_has_a_maximum(root: Path, value: object) -> None:
    """Regression: maxthreads=10**12 made the regulator preallocate 10**12
    tokens and the process was OOM-killed. Refused before anything is built."""
    with pytest.raises(InvalidParameterError, match="maxthreads") as info:
        regstore.create("filesystem", {"rootdirectory": str(root), "maxthreads": value})
    assert info.value.key == "maxthreads"
    assert "from 25 to 10000" in str(info.value)


def test_maxthreads_at_the_maximum_is_accepted(root: Path) -> None:
    driver = regstore.create("filesystem", {"rootdirectory": str(root), "maxthreads": 10_000})
    assert driver.inner.maxthreads == 10_000  # type: ignore[attr-defined]


def test_unknown_parameter_is_rejected(root: Path) -> None:
    with pytest.raises(InvalidParameterError, match="rootdir"):
        regstore.create("filesystem", {"rootdir": str(root)})


def test_capabilities() -> None:
    caps = FilesystemDriver("/nonexistent-root").capabilities
    assert caps == regstore.Capabilities(redirect=False, persistent=True, walk_order="tree")


# -- layout -----------------------------------------------------------------


def test_layout_is_root_plus_path(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/docker/registry/v2/blobs/sha256/ab/abcd/data", b"blob")
    with driver.writer("/docker/registry/v2/repositories/r/_layers/link") as writer:
        writer.write(b"sha256:abcd")
        writer.commit()
    assert (root / "docker/registry/v2/blobs/sha256/ab/abcd/data").read_bytes() == b"blob"
    assert (root / "docker/registry/v2/repositories/r/_layers/link").read_bytes() == b"sha256:abcd"
    # Nothing else is left on disk: no staging area, no temporary files.
    assert visible_tree(root) == [
        "docker",
        "docker/registry",
        "docker/registry/v2",
        "docker/registry/v2/blobs",
        "docker/registry/v2/blobs/sha256",
        "docker/registry/v2/blobs/sha256/ab",
        "docker/registry/v2/blobs/sha256/ab/abcd",
        "docker/registry/v2/blobs/sha256/ab/abcd/data",
        "docker/registry/v2/repositories",
        "docker/registry/v2/repositories/r",
        "docker/registry/v2/repositories/r/_layers",
        "docker/registry/v2/repositories/r/_layers/link",
    ]


def test_files_written_by_another_program_are_read(driver: StorageDriver, root: Path) -> None:
    # What a distribution registry sharing the directory would have written.
    (root / "docker/registry").mkdir(parents=True)
    (root / "docker/registry/hello").write_bytes(b"from distribution")
    assert driver.get_content("/docker/registry/hello") == b"from distribution"
    assert driver.list("/docker") == ["/docker/registry"]
    info = driver.stat("/docker/registry/hello")
    assert (info.size, info.is_dir) == (17, False)
    assert info.mod_time.tzinfo is dt.UTC
    mtime = (root / "docker/registry/hello").stat().st_mtime
    assert abs(info.mod_time.timestamp() - mtime) < 1e-3


# -- root and listing -------------------------------------------------------


def test_missing_root_is_an_empty_store(driver: StorageDriver, root: Path) -> None:
    assert not root.exists()
    assert driver.list("/") == []
    assert list(driver.walk("/")) == []
    info = driver.stat("/")
    assert info.is_dir
    assert info.path == "/"
    with pytest.raises(PathNotFoundError):
        driver.list("/a")
    assert not root.exists()  # reads create nothing


def test_list_sorted_and_errors(driver: StorageDriver) -> None:
    for name in ["b", "a-c", "a", "a.b", "Z", "_"]:
        driver.put_content(f"/d/{name}", b"x")
    assert driver.list("/d") == ["/d/Z", "/d/_", "/d/a", "/d/a-c", "/d/a.b", "/d/b"]
    assert driver.list("/") == ["/d"]
    with pytest.raises(PathNotFoundError):
        driver.list("/d/a")  # a file
    with pytest.raises(PathNotFoundError):
        driver.list("/d/a/x")  # below a file


def test_invisible_entries_are_not_listed(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/d/a", b"x")
    (root / "d" / ".a~leftover").write_bytes(b"crashed temp file")
    (root / "d" / "has space").write_bytes(b"not a store path")
    assert driver.list("/d") == ["/d/a"]
    assert [i.path for i in driver.walk("/")] == ["/d", "/d/a"]


def test_directory_is_not_content(driver: StorageDriver) -> None:
    driver.put_content("/d/a", b"x")
    with pytest.raises(PathNotFoundError):
        driver.get_content("/d")
    with pytest.raises(PathNotFoundError):
        driver.reader("/d")
    with pytest.raises(StorageDriverError, match="directory"):
        driver.put_content("/d", b"x")
    with pytest.raises(StorageDriverError, match="parents is a file"):
        driver.put_content("/d/a/b", b"x")
    assert driver.get_content("/d/a") == b"x"


def test_walk_order_prune_and_resume(driver: StorageDriver) -> None:
    for path in ["/a/b", "/a/b-c", "/a/b/c/d", "/a/b/e", "/z"]:
        if path == "/a/b":
            continue
        driver.put_content(path, path.encode())
    walked = [(i.path, i.is_dir, i.size) for i in driver.walk("/")]
    assert walked == [
        ("/a", True, 0),
        ("/a/b", True, 0),
        ("/a/b/c", True, 0),
        ("/a/b/c/d", False, 8),
        ("/a/b/e", False, 6),
        ("/a/b-c", False, 6),
        ("/z", False, 2),
    ]
    paths = [p for p, _, _ in walked]
    for i, last in enumerate(paths):
        assert [x.path for x in driver.walk("/", start_after=last)] == paths[i + 1 :]
    pruned = [i.path for i in driver.walk("/", prune=lambda i: i.path == "/a/b")]
    assert pruned == ["/a", "/a/b", "/a/b-c", "/z"]
    assert [i.path for i in driver.walk("/a/b/c")] == ["/a/b/c/d"]
    with pytest.raises(PathNotFoundError):
        list(driver.walk("/missing"))


def test_reader_offsets(driver: StorageDriver) -> None:
    driver.put_content("/f", b"0123456789")
    with driver.reader("/f", 4) as stream:
        assert stream.read() == b"456789"
    with driver.reader("/f", 10) as stream:
        assert stream.read() == b""
    with driver.reader("/f", 1000) as stream:
        assert stream.read() == b""
    with pytest.raises(PathNotFoundError):
        driver.reader("/g", 1000)


# -- delete and move --------------------------------------------------------


def test_delete_removes_emptied_directories_up_to_root(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/a/b/c/d", b"x")
    driver.put_content("/a/keep", b"y")
    driver.delete("/a/b/c/d")
    assert visible_tree(root) == ["a", "a/keep"]
    driver.delete("/a/keep")
    assert root.is_dir()
    assert visible_tree(root) == []
    assert driver.list("/") == []


def test_delete_subtree_keeps_prefix_siblings(driver: StorageDriver) -> None:
    for path in ["/a/x", "/a/y/z", "/ab", "/a-b/c"]:
        driver.put_content(path, b"1")
    driver.delete("/a")
    assert driver.list("/") == ["/a-b", "/ab"]
    with pytest.raises(PathNotFoundError):
        driver.delete("/a")
    with pytest.raises(PathNotFoundError):
        driver.delete("/ab/under-a-file")


def test_move_replaces_and_cleans_up(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/src/deep/f", b"new")
    driver.put_content("/dst/f", b"old")
    driver.move("/src/deep/f", "/dst/f")
    assert driver.get_content("/dst/f") == b"new"
    assert visible_tree(root) == ["dst", "dst/f"]
    driver.move("/dst/f", "/dst/f")  # onto itself: nothing changes
    assert driver.get_content("/dst/f") == b"new"


def test_move_absent_source_leaves_destination_untouched(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/dst", b"keep")
    with pytest.raises(PathNotFoundError):
        driver.move("/missing", "/dst")
    with pytest.raises(PathNotFoundError):
        driver.move("/missing", "/new/dir/f")
    assert driver.get_content("/dst") == b"keep"
    assert visible_tree(root) == ["dst"]  # no directory was created for the new dest


def test_move_of_a_directory_is_refused(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/d/f", b"x")
    driver.put_content("/e/g", b"y")
    before = visible_tree(root)
    for dest in ["/e", "/new", "/e/g", "/d/f2", "/d"]:
        with pytest.raises(PathNotFoundError, match="directory"):
            driver.move("/d", dest)
        assert visible_tree(root) == before
    assert driver.get_content("/d/f") == b"x"
    assert driver.get_content("/e/g") == b"y"


def test_move_of_a_missing_source_onto_itself(driver: StorageDriver, root: Path) -> None:
    """Moving onto itself is a no-op only for an object that exists."""
    with pytest.raises(PathNotFoundError):
        driver.move("/missing", "/missing")
    with pytest.raises(PathNotFoundError):
        driver.move("/a/missing", "/a/missing")
    assert not root.exists() or visible_tree(root) == []
    driver.put_content("/a/f", b"x")
    with pytest.raises(PathNotFoundError):
        driver.move("/a/f/below", "/a/f/below")  # below a file
    driver.move("/a/f", "/a/f")
    assert driver.get_content("/a/f") == b"x"


# -- confinement ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/../escape", "/a/../../escape", "/./x", "relative", "/a//b", "/a/", "/a~b", ""]
)
def test_inner_driver_refuses_invalid_paths_itself(root: Path, path: str) -> None:
    # Even without core's wrapper, nothing outside the root is ever joined.
    inner = FilesystemDriver(str(root))
    with pytest.raises(InvalidPathError):
        inner.put_content(path, b"x")
    with pytest.raises(InvalidPathError):
        inner.get_content(path)
    with pytest.raises(InvalidPathError):
        inner.delete(path)
    assert not (root.parent / "escape").exists()


def test_symlink_is_followed_but_delete_removes_only_the_link(
    driver: StorageDriver, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"do not delete")
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    # Documented: an administrator's symlink is followed, as distribution does.
    assert driver.get_content("/link/precious") == b"do not delete"
    driver.delete("/link")
    assert (outside / "precious").read_bytes() == b"do not delete"
    assert not (root / "link").exists()


def test_publishing_across_filesystems(driver: StorageDriver, root: Path) -> None:
    # An administrator put /fast on another filesystem with a symlink: a
    # commit (staged under the root) and a move must still publish whole
    # files, by copy + rename instead of a plain rename.
    other_fs = Path("/dev/shm")
    if not other_fs.is_dir() or other_fs.stat().st_dev == root.parent.stat().st_dev:
        pytest.skip("needs a second filesystem at /dev/shm")
    with tempfile.TemporaryDirectory(dir=other_fs) as elsewhere:
        root.mkdir()
        (root / "fast").symlink_to(elsewhere, target_is_directory=True)
        writer = driver.writer("/fast/blob")
        writer.write(b"x" * 300_000)
        writer.commit()
        assert (Path(elsewhere) / "blob").read_bytes() == b"x" * 300_000
        driver.put_content("/slow/f", b"moved")
        driver.move("/slow/f", "/fast/f")
        assert (Path(elsewhere) / "f").read_bytes() == b"moved"
        assert sorted(p.name for p in Path(elsewhere).iterdir()) == ["blob", "f"]
        assert driver.list("/") == ["/fast"]
        driver.delete("/fast")  # removes the link, not the other filesystem's files
        assert (Path(elsewhere) / "f").exists()


def test_check_leaves_the_given_rootdirectory_as_it_was(tmp_path: Path) -> None:
    """`regstore check filesystem -p rootdirectory=D` runs every test under a
    fresh random root inside D and leaves D as it found it."""
    from regstore.cli import main

    (tmp_path / "keep").write_bytes(b"not the suite's")
    assert main(["check", "filesystem", "-p", f"rootdirectory={tmp_path}", "-k", "truncate"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


def test_check_with_faults_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`regstore check filesystem --faults 0.2`: the failure cases, with the
    random-fault uploads at a 20 % rate of failing os calls, pass and leave
    the given root as it was."""
    from regstore.cli import main

    selection = "failure_points or random_faults or resumers or crashes"
    root = f"rootdirectory={tmp_path}"
    code = main(["check", "filesystem", "-p", root, "--faults", "0.2", "-k", selection])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "fault rate 0.2" in out
    row = next(line for line in out.splitlines() if "test_random_faults[storage]" in line)
    assert " passed " in row, row
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("root", ["data", "./data", "../data"])
def test_relative_rootdirectory_is_refused(
    root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative root used to land under whatever directory the process ran
    in; now it is refused, naming the absolute path it would have been."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(regstore.InvalidParameterError, match="relative") as caught:
        regstore.create("filesystem", {"rootdirectory": root})
    assert "absolute" in str(caught.value)
    assert str(tmp_path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []

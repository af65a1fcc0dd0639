"""How a flat key store's keys map to paths, for every object-store driver.

S3, Azure Blob and GCS all store a path as one key: distribution's mapping,
the root directory joined with the path without a leading slash, so regstore
and a distribution registry can share a bucket or container. The mapping,
and the keys no path maps to, are the same in every such driver, so they
live here once.

Keys with a `~` below the root map to no path (`~` is not a valid path
character). Drivers keep their own bookkeeping there, under
`<root>/~regstore-uploads/`, and list, walk, stat and get skip every such
key: a store whose root lies inside ours keeps its records deeper down
(`b/~regstore-uploads/...`), and those are hidden as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regstore.paths import ROOT, is_valid_path, join_key

__all__ = ["HIDDEN_DIR", "KeyLayout"]

#: The directory under the root where drivers keep upload records and
#: parts: a name no valid path can have.
HIDDEN_DIR = "~regstore-uploads"


@dataclass(frozen=True)
class KeyLayout:
    """The keys of one driver instance, given its root directory."""

    root: str
    root_prefix: str = field(init=False)
    hidden_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        root = self.root.strip("/")
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "root_prefix", root + "/" if root else "")
        object.__setattr__(self, "hidden_prefix", self.root_prefix + HIDDEN_DIR + "/")

    def key(self, path: str) -> str:
        """The object key of `path` (distribution's mapping)."""
        return join_key(self.root, path)

    def dir_prefix(self, path: str) -> str:
        """The key prefix of everything below directory `path`."""
        return self.root_prefix if path == ROOT else self.key(path) + "/"

    def path_of(self, key: str) -> str:
        """The path of a key under the root (no validity check)."""
        return "/" + key[len(self.root_prefix) :]

    def valid_path(self, key: str) -> str | None:
        """The path of a key under the root, None if it maps to none."""
        if not key.startswith(self.root_prefix):
            return None
        path = "/" + key[len(self.root_prefix) :]
        return path if is_valid_path(path) else None

    def record_key(self, path: str) -> str:
        """The key of the record a closed upload to `path` keeps."""
        return self.hidden_prefix + path.lstrip("/")

    def record_path(self, record_key: str) -> str:
        """The path whose upload a record key belongs to."""
        return "/" + record_key[len(self.hidden_prefix) :]

    def hidden(self, key: str) -> bool:
        """Whether no path maps to `key`: a `~` anywhere below the root."""
        return "~" in key[len(self.root_prefix) :]

    def past_hidden(self, key: str) -> str:
        """A listing start-after beyond every key that starts like the hidden
        `key` up to its first `~` below the root: all of those are hidden
        too, so a walk skips them in one step."""
        cut = key.index("~", len(self.root_prefix))
        return key[: cut + 1] + "\U0010fffd"

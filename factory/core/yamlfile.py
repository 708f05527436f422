"""A YAML mapping read from a file, with the line of every key, so errors can name it.

    doc = load_mapping(Path("my-filters.yaml"), "with a 'filters' key")
    doc.data["filters"]["readability"]           # the values, as yaml.safe_load gives them
    doc.where("filters", "readability", "max_paragraph_chars")   # "my-filters.yaml:7"
    doc.where("dataset_mixture", "datasets", 0, "weight")        # a list item by its index

Values set later from elsewhere (a `--set` item) replace a key's origin with theirs
(`override`), so an error names what the user actually typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.core.errors import InputError


@dataclass
class YamlMapping:
    """`data`: the top-level mapping; `origins`: key path → where it was written ("file:line")."""

    path: Path
    data: dict
    origins: dict[tuple, str] = field(default_factory=dict)

    def where(self, *keys: Any) -> str:
        """Where `keys` (or its nearest enclosing key) came from; the file itself when none did."""
        for end in range(len(keys), 0, -1):
            origin = self.origins.get(tuple(keys[:end]))
            if origin is not None:
                return origin
        return str(self.path)

    def override(self, keys: tuple, value: Any, origin: str) -> None:
        """Set `value` at `keys`, now from `origin` (enclosing sections that are missing or not
        mappings become empty mappings: check them first where that matters). The file's lines
        for that key and everything under it no longer say where its value came from."""
        section = self.data
        for key in keys[:-1]:
            if not isinstance(section.get(key), dict):
                section[key] = {}
            section = section[key]
        section[keys[-1]] = value
        self.origins = {k: v for k, v in self.origins.items() if k[:len(keys)] != tuple(keys)}
        self.origins[tuple(keys)] = origin


def load_mapping(path: Path, expected: str = "") -> YamlMapping:
    """The mapping in the YAML file `path` (an empty file is an empty mapping) and each key's line.

    InputError (naming the file, and the line where YAML knows it) for a missing or unreadable
    file, invalid YAML, or a top level that is not a mapping; `expected` completes that last
    message ("expected a mapping with a 'filters' key").
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it ({e})") from None
    loader = yaml.SafeLoader(text)
    try:  # one parse: the node tree keeps the marks, the document is built from it
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InputError(f"{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"{type(data).__name__} {data!r}"
        raise InputError(f"{path}: expected a mapping{' ' + expected if expected else ''}, got {kind}")
    origins: dict[tuple, str] = {}
    _record(node, (), path, origins)
    return YamlMapping(path, data, origins)


def _record(node, prefix: tuple, path: Path, origins: dict[tuple, str]) -> None:
    """Each mapping key under `node`, by its path of (scalar) keys, → "file:line" of the key; an item
    of a list is keyed by its index (`doc.where("mixture", "datasets", 1, "weight")`), at its first line."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            origins[prefix + (i,)] = f"{path}:{item.start_mark.line + 1}"
            _record(item, prefix + (i,), path, origins)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):  # keys are names here; others have no path
            keys = prefix + (key_node.value,)
            origins[keys] = f"{path}:{key_node.start_mark.line + 1}"
            _record(value_node, keys, path, origins)

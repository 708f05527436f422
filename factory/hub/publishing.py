"""The publish stage: stage a Hub dataset repo from a filter run (or a built mixture), check it, upload it.

`publish_dataset(config)` is the library entry point (`factory.publish` is its door):
it stages data/*.parquet and the card, checks that `datasets.load_dataset` returns
exactly the accepted rows and that the card's metadata is valid, and uploads unless
`dry_run`. The token comes from HF_TOKEN or the stored login and is never printed or
written anywhere.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout, outdir
from factory.core.cli import LogOptions
from factory.core.errors import InputError, RuntimeFailure
from factory.hub.card import render
from factory.hub.checks import check_card, check_round_trip
from factory.hub.mixture import stage_mixture
from factory.hub.stage import Staged, stage
from factory.hub.upload import publish


@dataclass(kw_only=True)
class PublishConfig(LogOptions):
    data: Path = field(metadata={"help": "a `factory.filter` output folder (accepted/, rejected/, stats.json), or a "
                                         "mixture file (students/mixture.py, built first) or built mixture folder"})
    repo_id: str | None = field(default=None, metadata={"help": "Hub dataset repo, USER/NAME (required unless --dry-run)"})
    private: bool = field(default=False, metadata={"help": "create the repo as private"})
    revision: str = field(default="main", metadata={"help": "branch to publish to (created if missing)"})
    dry_run: bool = field(default=False, metadata={"help": "stage and check only; upload nothing"})
    stage: Path | None = field(default=None, metadata={"help": "staging folder (default: a temporary one)"})
    with_rejected: bool = field(default=False, metadata={"help": "also publish the rejected rows as a 'rejected' config"})
    pretty_name: str | None = field(default=None, metadata={"help": "dataset title (default: the repo name)"})
    license: str = field(default="other", metadata={"help": "licence id for the card (teacher outputs follow the teacher's terms)"})
    language: list[str] = field(default_factory=lambda: ["en"], metadata={"help": "languages for the card"})
    force: bool = field(default=False, metadata={"help": "publish even if the repo holds data with another schema"})
    mixture_out: Path | None = field(default=None, metadata={
        "help": "where a mixture file given as --data is built (default: STAGE.mixture beside --stage, else a "
                "temporary folder); reused when it holds the same mixture"})

    def __post_init__(self):
        self.data = Path(self.data)
        if self.repo_id is None and not self.dry_run:
            raise ValueError("--repo-id USER/NAME is required to upload (or stage only with --dry-run)")
        if self.stage is not None:
            self.stage = Path(self.stage)
        if self.repo_id is not None:
            check_repo_id(self.repo_id)
        if self.mixture_out is not None:
            self.mixture_out = Path(self.mixture_out)


# The Hub's rule for a repo id (huggingface_hub's validate_repo_id, stated here so a bad id is refused
# before any import or work): USER/NAME, each 1-96 of letters, digits, `-`, `_`, `.`, neither starting
# nor ending with `-` or `.`, no `--` or `..`, not ending in `.git`.
_PART = re.compile(r"^(?![.-])[A-Za-z0-9_.-]{1,96}(?<![.-])$")


def check_repo_id(repo_id: str) -> None:
    """ValueError (exit 2) unless `repo_id` is a valid Hub dataset id USER/NAME."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_PART.match(p) for p in parts) or "--" in repo_id or ".." in repo_id \
            or repo_id.endswith(".git"):
        raise ValueError(f"--repo-id {repo_id!r}: expected USER/NAME, each part 1-96 letters, digits, '-', '_' "
                         "or '.', not starting or ending with '-' or '.', without '--' or '..'")


def _stage(config: PublishConfig, stage_dir: Path) -> Staged:
    """A filter output (stage.py) or a built mixture (mixture.py) staged in `stage_dir`."""
    if not layout.is_mixture(config.data):
        return stage(config.data, stage_dir, with_rejected=config.with_rejected)
    if config.with_rejected:
        raise InputError(f"--with-rejected: {config.data} is a mixture, which keeps no rejected rows; "
                         "publish the filter outputs themselves for those")
    return stage_mixture(config.data, stage_dir)


@dataclass
class Published:
    stage: Path
    rows: int                   # accepted rows, read back through datasets.load_dataset
    files: int
    configs: dict               # config name → rows
    url: str | None = None      # None on a dry run


def publish_dataset(config: PublishConfig) -> Published:
    """Stage `config.data` in `config.stage` (or a temporary folder), check it, and upload unless a dry run.

    The staging folder is held like any output (factory/core/outdir.py): apart from --data, locked, and
    emptied only when it is new, empty, or a staging folder this verb made and nothing else was put in.
    A stage that fails is removed again (or emptied, when the folder was there before)."""
    repo_id = config.repo_id or f"dry-run/{config.data.resolve().name}"  # names the staged card only
    stage_dir = config.stage or Path(tempfile.mkdtemp(prefix="factory-publish-")) / "repo"
    with outdir.claim(stage_dir, "publish", inputs={"--data": config.data}, flag="--stage") as claim:
        claim.clear()
        try:
            staged = _stage(config, stage_dir)
            card = render(staged, repo_id=repo_id, pretty_name=config.pretty_name or repo_id.split("/")[1],
                          license=config.license, language=config.language)
            (stage_dir / "README.md").write_text(card, encoding="utf-8")
            check_card(stage_dir)
            rows = check_round_trip(staged, config.data)
        except BaseException as e:
            claim.undo(stage_dir)  # nothing half-staged is left
            if isinstance(e, OSError):
                raise RuntimeFailure(f"staging stopped: {outdir.os_error_line(e)}; the staging folder was "
                                     "emptied; rerun once fixed") from None
            raise
        result = Published(stage_dir, rows, sum(len(v) for v in staged.configs.values()), dict(staged.rows))
        if not config.dry_run:
            result.url = publish(stage_dir, repo_id, private=config.private, revision=config.revision,
                                 force=config.force)
    return result

"""Publish accepted traces to the Hugging Face Hub with an honest dataset card.

usage:
  python -m factory.publish --data runs/r1-math-filtered --repo-id you/r1-math-traces --private
  python -m factory.publish --data runs/r1-math-filtered --repo-id you/r1-math-traces \\
      --dry-run --stage runs/r1-math-stage
  python -m factory.publish --dry-run      # stage the lab's filtered traces in runs/lab/hub

Stages a Hub-ready dataset repo (data/*.parquet, README.md card with metadata, the
funnel and length charts), checks that `datasets.load_dataset` returns exactly the
accepted rows and that the card's metadata is valid, then uploads: the repo is
created if needed, files already on the Hub are skipped (re-publishing the same data
changes nothing) and an interrupted upload resumes. The token comes from HF_TOKEN or
the stored login (`hf auth login`) and is never printed or written anywhere.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from factory import lab
from factory.core.cli import parse_config, run_cli


@dataclass
class PublishConfig:
    data: Path = field(default=lab.FILTER_OUT, metadata={"help": "a `factory.filter` output folder (accepted/, rejected/, stats.json)"})
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

    def __post_init__(self):
        self.data = Path(self.data)
        if self.repo_id is None:
            if not self.dry_run:
                raise ValueError("--repo-id USER/NAME is required to upload (or stage only with --dry-run)")
            self.repo_id = lab.PLACEHOLDER_REPO
            self.stage = self.stage if self.stage is not None else lab.STAGE
        if self.stage is not None:
            self.stage = Path(self.stage)
        parts = self.repo_id.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"--repo-id {self.repo_id!r}: expected USER/NAME")


def main(argv: list[str] | None = None) -> int:
    # The one-commit classic-LFS upload the tests cover (factory/hub/upload.py);
    # huggingface_hub reads this once, when it is first imported.
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

    def go() -> int:
        config = parse_config(PublishConfig, argv, prog="python -m factory.publish", doc=__doc__)
        from factory.hub.checks import check_card, check_round_trip
        from factory.hub.stage import stage

        from factory.hub.card import render

        stage_dir = config.stage or Path(tempfile.mkdtemp(prefix="factory-publish-")) / "repo"
        staged = stage(config.data, stage_dir, with_rejected=config.with_rejected)
        card = render(staged, repo_id=config.repo_id, pretty_name=config.pretty_name or config.repo_id.split("/")[1],
                      license=config.license, language=config.language)
        (stage_dir / "README.md").write_text(card, encoding="utf-8")
        check_card(stage_dir)
        rows = check_round_trip(staged, config.data)
        files = sum(len(v) for v in staged.configs.values())
        print(f"staged {stage_dir}: {rows:,} accepted rows in {files} file(s), configs "
              f"{', '.join(f'{k} ({v:,})' for k, v in staged.rows.items())}; load_dataset round-trip ok; card ok")
        if config.dry_run:
            print("dry run: nothing uploaded")
            return 0
        from factory.hub.upload import publish

        url = publish(stage_dir, config.repo_id, private=config.private, revision=config.revision,
                      force=config.force)
        print(f"published {url}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())

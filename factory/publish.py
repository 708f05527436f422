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

from factory import lab
from factory.core.cli import parse_config, quiet, run_cli
from factory.hub.publishing import PublishConfig, publish_dataset


def parse(argv: list[str]):
    """The config, with the lab's defaults: its filter run, and on a dry run with no
    --repo-id its placeholder repo and staging folder (runs/lab/hub)."""
    config = parse_config(PublishConfig, argv, prog="python -m factory.publish", doc=__doc__,
                          defaults={"data": lab.FILTER_OUT})
    if config.repo_id is None:
        config.repo_id = lab.PLACEHOLDER_REPO
        config.stage = config.stage or lab.STAGE
    return config


def main(argv: list[str] | None = None) -> int:
    # The one-commit classic-LFS upload the tests cover (factory/hub/upload.py);
    # huggingface_hub reads this once, when it is first imported (factory.hub imports it only
    # inside the functions that talk to the Hub).
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    argv = list(sys.argv[1:] if argv is None else argv)

    def go() -> int:
        config = parse(argv)
        if config.stage is not None:  # beside the staged folder, never in it (or in the data)
            quiet(config, config.stage, "publish", beside=True)
        result = publish_dataset(config)
        print(f"staged {result.stage}: {result.rows:,} accepted rows in {result.files} file(s), configs "
              f"{', '.join(f'{k} ({v:,})' for k, v in result.configs.items())}; load_dataset round-trip ok; "
              "card ok")
        print(f"published {result.url}" if result.url else "dry run: nothing uploaded")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())

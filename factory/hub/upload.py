"""Upload a staged dataset repo with huggingface_hub.

- Token: HF_TOKEN or the stored login; never printed, logged or written (errors
  are rebuilt from the status code and the server's message, not from the
  request, which carries the token).
- The repo is created if needed (`--private`), the branch too (`--revision`).
- A repo that already holds factory data with another schema, or Parquet data
  the factory did not publish, is refused unless `--force`.
- Classic LFS transfer (HF_HUB_DISABLE_XET, set by `factory.publish` before
  huggingface_hub is first imported: the client reads it at import time).
- One commit: huggingface_hub compares every file with the Hub's copy and
  sends only what changed, so re-publishing the same data is a no-op (no
  commit), and after an interrupted upload the LFS files already received are
  not sent again (the Hub reports them stored).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from factory.core import outdir
from factory.core.errors import InputError, RuntimeFailure

LOGIN_HINT = "log in with `hf auth login`, or set HF_TOKEN to a token with write access"


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _hub_error(e: Exception, doing: str) -> Exception:
    """A message safe to print: status and server message only."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    if status == 401:
        return InputError(f"the Hub refused the token while {doing} (HTTP 401); {LOGIN_HINT}")
    if status == 403:
        return InputError(f"{doing} was refused (HTTP 403): the token lacks write access to this repo")
    server = ""
    if response is not None:
        server = response.headers.get("X-Error-Message") or ""
    return RuntimeFailure(f"{doing} failed ({type(e).__name__}{f', HTTP {status}' if status else ''}"
                          f"{f': {server}' if server else ''}); rerun the same command to resume")


def publish(stage: Path, repo_id: str, *, private: bool = False, revision: str = "main", force: bool = False) -> str:
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    token = get_token()
    if not token:
        raise InputError(f"no Hugging Face token found; {LOGIN_HINT}")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        user = api.whoami()["name"]
    except LocalTokenNotFoundError:
        raise InputError(f"no Hugging Face token found; {LOGIN_HINT}") from None
    except HfHubHTTPError as e:
        raise _hub_error(e, "checking the token") from None
    print(f"logged in as {user}")
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        _check_existing(api, stage, repo_id, revision, force)
        info = api.upload_folder(folder_path=str(stage), repo_id=repo_id, repo_type="dataset", revision=revision,
                                 ignore_patterns=[outdir.MARKER],  # the staging folder's own, not the dataset's
                                 commit_message="Publish traces with the R1 distillation factory")
    except (InputError, RuntimeFailure):
        raise
    except HfHubHTTPError as e:
        raise _hub_error(e, f"publishing {repo_id}") from None
    except (OSError, ValueError, RuntimeError) as e:  # connection errors, LFS upload errors
        raise RuntimeFailure(f"publishing {repo_id} was interrupted ({type(e).__name__}); rerun the same "
                             "command to resume: files the Hub already has are not sent again") from None
    return getattr(info, "commit_url", None) or str(url)


def _check_existing(api, stage: Path, repo_id: str, revision: str, force: bool) -> None:
    """Refuse to mix rows of another schema into a repo, unless forced."""
    files = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    if not files or force:
        return
    ours = _git_blob_sha1((stage / "factory_schema.json").read_bytes())
    if "factory_schema.json" in files:
        info = api.get_paths_info(repo_id, ["factory_schema.json"], repo_type="dataset", revision=revision)
        if info and info[0].blob_id != ours:
            raise InputError(f"{repo_id} holds factory data with another schema (factory_schema.json differs); "
                             "publish to a new repo, or pass --force to replace it")
    elif any(f.endswith(".parquet") for f in files):
        raise InputError(f"{repo_id} holds Parquet data the factory did not publish; publish to a new repo, "
                         "or pass --force to publish over it")

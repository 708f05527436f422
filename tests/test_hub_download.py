"""`huggingface_hub.hf_hub_download` against the loopback Hub stand-in (tests/hub_server.py)."""

import os

import pytest

TOKEN = "hf_SECRET_download_token"
OTHER = "hf_valid_but_not_granted"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """Start the stand-in and point huggingface_hub at it (env + the constants it read at import time)."""
    from huggingface_hub import constants
    from hub_server import serve

    srv, store, url = serve(token=TOKEN)
    store.tokens.add(OTHER)
    home = tmp_path / "hf-home"
    for k in [k for k in os.environ if k.startswith("HF_") or k in ("HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for name, value in {"ENDPOINT": url, "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
                        "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"),
                        "HF_TOKEN_PATH": str(home / "token"), "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
                        "HF_HUB_DISABLE_XET": True, "HF_HUB_OFFLINE": False}.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    yield store, url
    srv.shutdown()
    srv.server_close()


def _dl(filename, repo_id="tester/traces", token=TOKEN, revision=None):
    from huggingface_hub import hf_hub_download

    with open(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision, token=token), "rb") as fh:
        return fh.read()


def test_download_regular_and_lfs_files_committed_through_the_api(hub):
    from huggingface_hub import HfApi

    store, url = hub
    api = HfApi(endpoint=url, token=TOKEN)
    api.create_repo("tester/traces", repo_type="dataset", private=True)
    small, big = b"hello, hub\n", os.urandom(300_000)
    api.upload_file(path_or_fileobj=small, path_in_repo="notes/hello.txt", repo_id="tester/traces", repo_type="dataset")
    api.upload_file(path_or_fileobj=big, path_in_repo="data/train.parquet", repo_id="tester/traces",
                    repo_type="dataset")
    assert store.puts == 1  # the parquet file went through LFS
    files = store.repos[("dataset", "tester/traces")]["branches"]["main"]["files"]
    assert files["data/train.parquet"]["lfs"] and not files["notes/hello.txt"]["lfs"]

    assert _dl("notes/hello.txt") == small
    assert _dl("data/train.parquet") == big
    assert ("HEAD", "/datasets/tester/traces/resolve/main/data/train.parquet") in store.log
    assert ("GET", "/datasets/tester/traces/resolve/main/data/train.parquet") in store.log
    sha = store.repos[("dataset", "tester/traces")]["branches"]["main"]["sha"]
    assert _dl("notes/hello.txt", revision=sha) == small


def test_download_headers_and_errors(hub):
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    store, _ = hub
    data = b"x" * 5000
    sha = store.put_file("dataset", "tester/pub", "a/b c.parquet", data)
    store.put_file("dataset", "tester/pub", "README.md", "# hi\n")
    meta = get_hf_file_metadata(hf_hub_url("tester/pub", "a/b c.parquet", repo_type="dataset"))
    assert meta.size == 5000 and meta.etag == __import__("hashlib").sha256(data).hexdigest()
    assert meta.commit_hash != sha  # README.md was committed after it
    assert _dl("a/b c.parquet", "tester/pub", token=None) == data  # public: anonymous works
    assert _dl("README.md", "tester/pub") == b"# hi\n"

    with pytest.raises(EntryNotFoundError):
        _dl("missing.txt", "tester/pub")
    with pytest.raises(RevisionNotFoundError):
        _dl("README.md", "tester/pub", revision="no-such-branch")
    with pytest.raises(RepositoryNotFoundError):
        _dl("README.md", "tester/nope")
    with pytest.raises(RepositoryNotFoundError):
        _dl("README.md", "tester/nope", token=False)
    store.put_file("dataset", "tester/secret", "f.txt", "s", private=True)
    with pytest.raises(RepositoryNotFoundError):
        _dl("f.txt", "tester/secret", token=False)
    assert _dl("f.txt", "tester/secret") == b"s"


def test_gated_repo(hub):
    from huggingface_hub.errors import GatedRepoError

    store, _ = hub
    store.put_file("dataset", "someone/gated", "data/x.parquet", b"PAR1gated")
    store.gated.add("datasets/someone/gated")
    with pytest.raises(GatedRepoError) as anon:
        _dl("data/x.parquet", "someone/gated", token=False)
    assert anon.value.response.status_code == 401
    assert "Access to dataset someone/gated is restricted" in str(anon.value)
    with pytest.raises(GatedRepoError) as denied:
        _dl("data/x.parquet", "someone/gated", token=OTHER)
    assert denied.value.response.status_code == 403
    store.granted.add(OTHER)
    assert _dl("data/x.parquet", "someone/gated", token=OTHER) == b"PAR1gated"

"""A loopback stand-in for the Hugging Face Hub's HTTP API, for the publish tests.

Implements the endpoints `huggingface_hub` (2.4, classic LFS path, Xet off) calls to
create a repo, a branch, list files, validate a card and commit files, keeping repos
in memory and recording every request. `Store.fail_puts_after` makes the LFS upload
fail after N files, to interrupt an upload. It also serves file downloads (`hf_hub_download`)
the way the Hub does, without redirects: `X-Repo-Commit`, `ETag` (git blob sha1; for LFS
files also `X-Linked-Etag` = sha256 and `X-Linked-Size`), `Content-Length`, and errors
carrying `X-Error-Code` (EntryNotFound, RevisionNotFound, RepoNotFound, GatedRepo).
Client side: HF_ENDPOINT=http://127.0.0.1:<port> HF_HUB_DISABLE_XET=1.

Test hooks on `Store`: `put_file(repo_type, repo_id, path, data)` commits a file directly;
`gated` (repo ids "ns/name" or "datasets/ns/name") marks repos gated: a download without a
token is answered 401 GatedRepo, with a valid token not in `granted` (a set of tokens) 403
GatedRepo. `lfs_threshold` is the size from which preupload answers "lfs". CLI: --gated REPO,
--granted TOKEN (repeatable).

Routes (rev / branch are URL-quoted, e.g. "my%2Fbranch"; {t} = models|datasets|spaces):
  GET  /api/whoami-v2
  POST /api/repos/create
  POST /api/validate-yaml
  GET  /api/{t}/{ns}/{name}                       (repo_info, default branch)
  GET  /api/{t}/{ns}/{name}/revision/{rev}        (repo_info at rev; used on "nothing changed")
  GET  /api/{t}/{ns}/{name}/refs
  GET  /api/{t}/{ns}/{name}/tree/{rev}[/{path}]   (?recursive=True|False)
  POST /api/{t}/{ns}/{name}/paths-info/{rev}      (form: paths=..&paths=..&expand=..)
  POST /api/{t}/{ns}/{name}/preupload/{rev}
  POST /api/{t}/{ns}/{name}/commit/{rev}          (application/x-ndjson)
  POST /api/{t}/{ns}/{name}/branch/{branch}       (json {startingPoint?})
  POST /[datasets/|spaces/]{ns}/{name}.git/info/lfs/objects/batch
  PUT  /_lfs/upload/{sha256}?sig=...              (pre-signed, no auth header sent by client)
  POST /_lfs/verify                               (auth header sent; json {oid,size})
  HEAD /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}   (file metadata, hf_hub_download)
  GET  /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}   (file bytes, 200, no redirect)
  GET  /_debug/state                              (not Hub API: repos, LFS objects, request log)
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_EXTS = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".bin", ".safetensors", ".zip", ".gz", ".npy")
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class Store:
    def __init__(self, user, tokens, data_dir=None):
        self.lock = threading.RLock()
        self.user = user
        self.tokens = set(tokens)
        self.data_dir = data_dir
        self.repos = {}  # (type, repo_id) -> {"private": bool, "branches": {name: {"sha":..., "files": {...}}}}
        self.lfs = {}  # sha256 -> size   (bytes on disk if data_dir, else in self.blobs)
        self.blobs = {}  # sha256 -> bytes of LFS objects (when no data_dir)
        self.secret = secrets.token_bytes(16)
        self.log = []  # (method, path) of every request, for the client to inspect
        self.puts = 0                 # LFS uploads received
        self.fail_puts_after = None   # answer 400 to LFS uploads once this many were received
        self.lfs_threshold = LFS_SIZE_THRESHOLD  # preupload: files this big go through LFS
        self.gated = set()    # gated repos: "ns/name" (any type) or "datasets/ns/name" / "models/ns/name" / ...
        self.granted = set()  # tokens that have access to the gated repos

    def new_commit_sha(self):
        return hashlib.sha1(secrets.token_bytes(16)).hexdigest()

    def new_repo(self, rtype, repo_id, private=False):
        """Create an empty repo (a "main" branch holding .gitattributes); returns it."""
        init = {".gitattributes": {"lfs": False, "size": len(GITATTRIBUTES), "git_oid": git_blob_sha1(GITATTRIBUTES),
                                   "content": GITATTRIBUTES}}
        repo = {"private": bool(private), "branches": {"main": {"sha": self.new_commit_sha(), "files": init}}}
        with self.lock:
            self.repos[(rtype, repo_id)] = repo
        return repo

    def is_lfs(self, path, size, sample=b""):
        try:
            sample.decode("utf-8")
            binary = b"\0" in sample
        except UnicodeDecodeError:
            binary = True
        return binary or size >= self.lfs_threshold or path.lower().endswith(LFS_EXTS)

    def store_blob(self, data: bytes) -> str:
        """Keep the bytes of an LFS object; returns its sha256."""
        oid = hashlib.sha256(data).hexdigest()
        if self.data_dir:
            os.makedirs(self.data_dir, exist_ok=True)
            with open(os.path.join(self.data_dir, oid), "wb") as fh:
                fh.write(data)
        with self.lock:
            if not self.data_dir:
                self.blobs[oid] = data
            self.lfs[oid] = len(data)
        return oid

    def read_blob(self, oid):
        if oid in self.blobs:
            return self.blobs[oid]
        if self.data_dir and os.path.exists(os.path.join(self.data_dir, oid)):
            with open(os.path.join(self.data_dir, oid), "rb") as fh:
                return fh.read()
        return None

    def file_bytes(self, f):
        return self.read_blob(f["sha256"]) if f["lfs"] else f["content"]

    def is_gated(self, rtype, repo_id):
        return repo_id in self.gated or f"{rtype}s/{repo_id}" in self.gated

    def put_file(self, repo_type, repo_id, path, data, *, revision="main", lfs=None, private=False,
                 summary=None):
        """Commit one file straight into the store (no HTTP), creating the repo / branch if needed.

        repo_type: "model" | "dataset" | "space" (or the plural); lfs: None = decide like preupload.
        Returns the new commit sha."""
        rtype = TYPES.get(repo_type, repo_type or "model")
        if isinstance(data, str):
            data = data.encode()
        if lfs is None:
            lfs = self.is_lfs(path, len(data), data[:512])
        with self.lock:
            repo = self.repos.get((rtype, repo_id)) or self.new_repo(rtype, repo_id, private)
            br = repo["branches"].get(revision)
            if br is None:
                br = repo["branches"][revision] = {"sha": repo["branches"]["main"]["sha"],
                                                   "files": dict(repo["branches"]["main"]["files"])}
            if lfs:
                entry = {"lfs": True, "size": len(data), "sha256": self.store_blob(data)}
            else:
                entry = {"lfs": False, "size": len(data), "git_oid": git_blob_sha1(data), "content": data}
            br["files"] = {**br["files"], path: entry}
            br["sha"] = self.new_commit_sha()
            br.setdefault("history", []).append({"sha": br["sha"], "summary": summary or f"Upload {path}",
                                                 "ops": [f"{'lfsFile' if lfs else 'file'}:{path}"]})
            return br["sha"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/0.1"
    store: Store = None  # set in main()

    # ---------- plumbing ----------
    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_HUB_VERBOSE"):
            sys.stderr.write("[fakehub] " + (fmt % args) + "\n")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code, obj=None, headers=None, raw=None, length=None):
        body = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        headers = dict(headers or {})
        self.send_response(code)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("X-Request-Id", "fake-" + secrets.token_hex(4))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _err(self, code, msg, error_code=None, headers=None):
        h = {"X-Error-Message": msg, **(headers or {})}
        if error_code:
            h["X-Error-Code"] = error_code
        self._send(code, {"error": msg}, headers=h)

    def _auth(self, required=True):
        """Returns True if the request is allowed; otherwise sends 401 and returns False."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is not None and token not in self.store.tokens:
            self._err(401, "Invalid credentials in Authorization header")
            return False
        self.authed = token is not None
        self.token = token
        if token is None and required:
            self._err(401, "Invalid username or password.")
            return False
        return True

    def _dispatch(self, method):
        self.body = self._body() if method in ("POST", "PUT") else b""
        u = urlsplit(self.path)
        self.query = parse_qs(u.query)
        path = u.path
        with self.store.lock:
            self.store.log.append((method, path))
            if method == "PUT":
                self.store.log.append(("  (PUT body framing)", "chunked" if "Transfer-Encoding" in self.headers
                                       else f"Content-Length {self.headers.get('Content-Length')}"))
        try:
            for m, rx, fn in ROUTES:
                if m == method:
                    mt = rx.fullmatch(path)
                    if mt:
                        return fn(self, **mt.groupdict())
            self._err(404, f"Not found: {method} {path}")
        except Exception as e:  # never leave the client hanging (timeout=None client side)
            import traceback

            traceback.print_exc()
            self._err(500, f"fake hub internal error: {type(e).__name__}: {e}")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_HEAD(self):
        self._dispatch("HEAD")

    # ---------- helpers ----------
    @property
    def base(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _repo(self, t, ns, name):
        rtype = TYPES.get(t)
        repo = self.store.repos.get((rtype, f"{ns}/{name}"))
        if repo is None:
            self._err(404, "Repository not found", "RepoNotFound")
        elif repo["private"] and not getattr(self, "authed", False):  # anonymous access to a private repo
            self._err(401, "Repository not found", "RepoNotFound")
            return rtype, None
        return rtype, repo

    def _branch(self, repo, rev):
        rev = unquote(rev)
        br = repo["branches"].get(rev)
        if br is None:  # also accept a commit sha of a branch head
            br = next((b for b in repo["branches"].values() if b["sha"] == rev), None)
        if br is None:
            self._err(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return br

    def _entry_json(self, path, f):
        if f["lfs"]:
            ptr = lfs_pointer(f["sha256"], f["size"])
            return {"type": "file", "path": path, "size": f["size"], "oid": git_blob_sha1(ptr),
                    "lfs": {"oid": f["sha256"], "size": f["size"], "pointerSize": len(ptr)}}
        return {"type": "file", "path": path, "size": f["size"], "oid": f["git_oid"]}

    def _sig(self, oid):
        return hmac.new(self.store.secret, oid.encode(), hashlib.sha256).hexdigest()[:32]

    # ---------- routes ----------
    def whoami(self):
        if not self._auth():
            return
        u = self.store.user
        self._send(200, {"type": "user", "id": "fake-" + u, "name": u, "fullname": u, "email": None,
                         "orgs": [], "auth": {"type": "access_token",
                                              "accessToken": {"displayName": "fake", "role": "write"}}})

    def validate_yaml(self):
        if not self._auth(required=False):
            return
        self._send(200, {"errors": [], "warnings": []})

    def create_repo(self):
        if not self._auth():
            return
        p = json.loads(self.body or b"{}")
        rtype = p.get("type") or "model"
        ns = p.get("organization") or self.store.user
        if ns != self.store.user:
            return self._err(403, f"You don't have the rights to create a {rtype} under the namespace \"{ns}\"")
        repo_id = f"{ns}/{p['name']}"
        url = f"{self.base}/{URL_PREFIX[rtype]}{repo_id}"
        with self.store.lock:
            if (rtype, repo_id) in self.store.repos:
                msg = f"You already created this {rtype} repo"  # 409 body MUST carry "url" (client reads it)
                return self._send(409, {"error": msg, "url": url}, headers={"X-Error-Message": msg})
            self.store.new_repo(rtype, repo_id, p.get("private", p.get("visibility") == "private"))
        self._send(200, {"url": url, "name": repo_id, "id": "fake"})

    def repo_info(self, t, ns, name, rev="main"):
        if not self._auth(required=False):
            return
        rtype, repo = self._repo(t, ns, name)
        if repo is None:
            return
        br = self._branch(repo, rev)
        if br is None:
            return
        self._send(200, {"id": f"{ns}/{name}", "_id": "fake", "author": ns, "sha": br["sha"], "private": repo["private"],
                         "disabled": False,
                         "gated": "auto" if self.store.is_gated(rtype, f"{ns}/{name}") else False, "tags": [],
                         "siblings": [{"rfilename": p} for p in sorted(br["files"])]})

    def refs(self, t, ns, name):
        if not self._auth(required=False):
            return
        _, repo = self._repo(t, ns, name)
        if repo is None:
            return
        self._send(200, {"branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": b["sha"]}
                                      for n, b in repo["branches"].items()], "converts": [], "tags": []})

    def tree(self, t, ns, name, rev, sub=None):
        if not self._auth(required=False):
            return
        _, repo = self._repo(t, ns, name)
        if repo is None:
            return
        br = self._branch(repo, rev)
        if br is None:
            return
        prefix = (unquote(sub).strip("/") + "/") if sub else ""
        recursive = self.query.get("recursive", ["False"])[0].lower() == "true"
        out, dirs = [], set()
        for p in sorted(br["files"]):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            if "/" in rest and not recursive:
                dirs.add(prefix + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(len(parts)):
                    dirs.add(prefix + "/".join(parts[: i + 1]))
            out.append(self._entry_json(p, br["files"][p]))
        out = [{"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest()} for d in sorted(dirs)] + out
        if sub and not out:
            return self._err(404, f"{prefix} does not exist on {rev}", "EntryNotFound")
        self._send(200, out)

    def paths_info(self, t, ns, name, rev):
        if not self._auth(required=False):
            return
        _, repo = self._repo(t, ns, name)
        if repo is None:
            return
        br = self._branch(repo, rev)
        if br is None:
            return
        form = parse_qs(self.body.decode())
        out = []
        for p in form.get("paths", []):
            if p in br["files"]:
                out.append(self._entry_json(p, br["files"][p]))
            elif any(f.startswith(p.rstrip("/") + "/") for f in br["files"]):
                out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()})
        self._send(200, out)

    def preupload(self, t, ns, name, rev):
        if not self._auth():
            return
        _, repo = self._repo(t, ns, name)
        if repo is None:
            return
        br = self._branch(repo, rev)
        if br is None:
            return
        files = []
        for f in json.loads(self.body)["files"]:
            lfs = self.store.is_lfs(f["path"], f["size"], base64.b64decode(f["sample"]))
            entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            existing = br["files"].get(f["path"])
            if existing is not None:  # client compares this with sha256 (lfs) / git-sha1 (regular) of the local file
                entry["oid"] = existing["sha256"] if existing["lfs"] else existing["git_oid"]
            files.append(entry)
        self._send(200, {"files": files, "commitOid": br["sha"]})

    def lfs_batch(self, prefix, ns, name):
        if not self._auth():
            return
        rtype = {"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix or ""]
        if (rtype, f"{ns}/{name}") not in self.store.repos:
            return self._err(404, "Repository not found", "RepoNotFound")
        req = json.loads(self.body)
        if req.get("operation") != "upload":
            return self._err(400, "only upload is supported")
        objs = []
        for o in req["objects"]:
            item = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if self.store.lfs.get(o["oid"]) != o["size"]:  # not present yet -> ask client to PUT it
                item["actions"] = {
                    "upload": {"href": f"{self.base}/_lfs/upload/{o['oid']}?sig={self._sig(o['oid'])}&size={o['size']}"},
                    "verify": {"href": f"{self.base}/_lfs/verify"},
                }
            objs.append(item)
        self._send(200, {"transfer": "basic", "objects": objs, "hash_algo": "sha256"},
                   headers={"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_put(self, oid):
        if not hmac.compare_digest(self.query.get("sig", [""])[0], self._sig(oid)):
            return self._err(403, "bad signature")
        if self.store.fail_puts_after is not None and self.store.puts >= self.store.fail_puts_after:
            return self._err(400, "simulated interruption")
        self.store.puts += 1
        data = self.body
        if hashlib.sha256(data).hexdigest() != oid:
            return self._err(400, "sha256 mismatch")
        self.store.store_blob(data)
        self._send(200, raw=b"")

    def lfs_verify(self):
        if not self._auth():
            return
        o = json.loads(self.body)
        if self.store.lfs.get(o["oid"]) != o["size"]:
            return self._err(404, "object not found")
        self._send(200, {})

    def commit(self, t, ns, name, rev):
        if not self._auth():
            return
        rtype, repo = self._repo(t, ns, name)
        if repo is None:
            return
        br = self._branch(repo, rev)
        if br is None:
            return
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        if header.get("parentCommit") and header["parentCommit"] != br["sha"]:
            return self._err(412, "A commit has happened since. Please refresh and try again.")
        with self.store.lock:
            files = dict(br["files"])
            for x in lines:
                k, v = x["key"], x["value"]
                if k == "file":
                    data = base64.b64decode(v["content"]) if v.get("encoding") == "base64" else v["content"].encode()
                    files[v["path"]] = {"lfs": False, "size": len(data), "git_oid": git_blob_sha1(data), "content": data}
                elif k == "lfsFile":
                    if self.store.lfs.get(v["oid"]) is None:
                        return self._err(400, f"LFS object {v['oid']} for {v['path']} was not uploaded")
                    files[v["path"]] = {"lfs": True, "size": self.store.lfs[v["oid"]], "sha256": v["oid"]}
                elif k == "deletedFile":
                    if files.pop(v["path"], None) is None:
                        return self._err(404, "A file with this name doesn't exist", "EntryNotFound")
                elif k == "deletedFolder":
                    pre = v["path"].rstrip("/") + "/"
                    files = {p: f for p, f in files.items() if not p.startswith(pre)}
            br["files"] = files
            br["sha"] = self.store.new_commit_sha()
            ops = [f"{x['key']}:{x['value'].get('path')}" for x in lines if x["key"] != "header"]
            br.setdefault("history", []).append({"sha": br["sha"], "summary": header.get("summary"), "ops": ops})
            sha = br["sha"]
        self._send(200, {"success": True, "commitOid": sha, "hookOutput": "",
                         "commitUrl": f"{self.base}/{URL_PREFIX[rtype]}{ns}/{name}/commit/{sha}"})

    def create_branch(self, t, ns, name, branch):
        if not self._auth():
            return
        _, repo = self._repo(t, ns, name)
        if repo is None:
            return
        branch = unquote(branch)
        start = json.loads(self.body or b"{}").get("startingPoint") or "main"
        with self.store.lock:
            if branch in repo["branches"]:
                return self._err(409, "Reference already exists")
            src = self._branch(repo, quote(start, safe=""))
            if src is None:
                return
            repo["branches"][branch] = {"sha": src["sha"], "files": dict(src["files"])}
        self._send(200, {})

    def resolve(self, prefix, ns, name, rev, path):
        """HEAD/GET a file as the Hub's /resolve/ does (served directly: no redirect to a CDN)."""
        if not self._auth(required=False):
            return
        rtype = {"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix or ""]
        repo_id = f"{ns}/{name}"
        repo = self.store.repos.get((rtype, repo_id))
        if repo is None or (repo["private"] and not self.authed):
            # the Hub answers 401 to anonymous requests for a repo it won't show, 404 otherwise
            return self._err(401 if not self.authed else 404, "Repository not found", "RepoNotFound")
        if self.store.is_gated(rtype, repo_id) and self.token not in self.store.granted:
            url = f"{self.base}/{URL_PREFIX[rtype]}{repo_id}"
            if not self.authed:
                return self._err(401, f"Access to {rtype} {repo_id} is restricted. You must have access to it and be "
                                      "authenticated to access it. Please log in.", "GatedRepo")
            return self._err(403, f"Access to {rtype} {repo_id} is restricted and you are not in the authorized "
                                  f"list. Visit {url} to ask for access.", "GatedRepo")
        br = self._branch(repo, rev)
        if br is None:
            return
        path = unquote(path)
        f = br["files"].get(path)
        if f is None:
            return self._err(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": br["sha"]})
        h = {"Content-Type": "application/octet-stream", "X-Repo-Commit": br["sha"],
             "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'}
        if f["lfs"]:
            h["ETag"] = f'"{git_blob_sha1(lfs_pointer(f["sha256"], f["size"]))}"'
            h["X-Linked-Etag"] = f'"{f["sha256"]}"'
            h["X-Linked-Size"] = str(f["size"])
        else:
            h["ETag"] = f'"{f["git_oid"]}"'
        if self.command == "HEAD":
            return self._send(200, headers=h, raw=b"", length=f["size"])
        data = self.store.file_bytes(f)
        if data is None:
            return self._err(500, f"fake hub lost the bytes of LFS object {f['sha256']}")
        self._send(200, headers=h, raw=data)

    def debug_state(self):  # not part of the Hub API: lets a test script look inside
        out = {}
        for (rtype, rid), repo in self.store.repos.items():
            out[f"{rtype}:{rid}"] = {n: {"sha": b["sha"], "commits": len(b.get("history", [])),
                                         "history": b.get("history", []),
                                         "files": {p: self._entry_json(p, f) for p, f in b["files"].items()}}
                                     for n, b in repo["branches"].items()}
        self._send(200, {"repos": out, "lfs_objects": self.store.lfs, "requests": self.store.log})


R = r"(?P<t>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
ROUTES = [
    ("GET", re.compile(r"/api/whoami-v2"), Handler.whoami),
    ("POST", re.compile(r"/api/validate-yaml"), Handler.validate_yaml),
    ("POST", re.compile(r"/api/repos/create"), Handler.create_repo),
    ("GET", re.compile(rf"/api/{R}"), Handler.repo_info),
    ("GET", re.compile(rf"/api/{R}/revision/(?P<rev>[^/]+)"), Handler.repo_info),
    ("GET", re.compile(rf"/api/{R}/refs"), Handler.refs),
    ("GET", re.compile(rf"/api/{R}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.+))?"), Handler.tree),
    ("POST", re.compile(rf"/api/{R}/paths-info/(?P<rev>[^/]+)"), Handler.paths_info),
    ("POST", re.compile(rf"/api/{R}/preupload/(?P<rev>[^/]+)"), Handler.preupload),
    ("POST", re.compile(rf"/api/{R}/commit/(?P<rev>[^/]+)"), Handler.commit),
    ("POST", re.compile(rf"/api/{R}/branch/(?P<branch>[^/]+)"), Handler.create_branch),
    ("POST", re.compile(r"/(?P<prefix>datasets/|spaces/)?(?P<ns>[^/]+)/(?P<name>[^/]+)\.git/info/lfs/objects/batch"),
     Handler.lfs_batch),
    ("PUT", re.compile(r"/_lfs/upload/(?P<oid>[0-9a-f]{64})"), Handler.lfs_put),
    ("POST", re.compile(r"/_lfs/verify"), Handler.lfs_verify),
    ("GET", re.compile(r"/_debug/state"), Handler.debug_state),
]
RESOLVE = re.compile(r"/(?P<prefix>datasets/|spaces/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
ROUTES += [("HEAD", RESOLVE, Handler.resolve), ("GET", RESOLVE, Handler.resolve)]


def serve(token: str = "hf_test_token", user: str = "tester"):
    """Start in a daemon thread; returns (server, store, base URL)."""
    Handler.store = Store(user, [token])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, Handler.store, f"http://127.0.0.1:{srv.server_address[1]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="user")
    ap.add_argument("--token", action="append", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--gated", action="append", default=[], help="mark a repo gated: ns/name or datasets/ns/name")
    ap.add_argument("--granted", action="append", default=[], help="a token with access to the gated repos")
    a = ap.parse_args()
    Handler.store = Store(a.user, a.token or ["hf_fake_token"], a.data_dir)
    Handler.store.gated.update(a.gated)
    Handler.store.granted.update(a.granted)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)  # loopback only
    srv.daemon_threads = True
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

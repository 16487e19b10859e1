# Convenience wrappers; the scripts are the source of truth (a fresh machine may lack make).
.PHONY: serve test bench
serve:
	bash scripts/serve.sh
test:
	bash scripts/test.sh
bench:
	bash scripts/install.sh bench && .venv/bin/python benchmarks/latency.py

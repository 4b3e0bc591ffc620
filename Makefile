.PHONY: run test lint screenshots

run:  ## set up and run Loupe with the demo (SQLite + embedded broker unless configured otherwise)
	bash scripts/run.sh

test:  ## set up and run the whole test suite
	bash scripts/test.sh

screenshots:  ## refresh docs/screenshots/ from the browser tests that take them (the only writer of those files)
	bash scripts/screenshots.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

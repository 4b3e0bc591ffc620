.PHONY: run test lint lock screenshots

run:  ## set up and run Loupe with the demo (SQLite + embedded broker unless configured otherwise)
	bash scripts/run.sh

test:  ## set up and run the whole test suite
	bash scripts/test.sh

lint:  ## the static checks alone: ruff, mypy, migrations, declared and locked dependencies
	bash scripts/checks.sh

lock:  ## re-resolve the .lock files after changing a requirements*.txt file
	bash scripts/lock.sh

screenshots:  ## retake the pictures in docs/screenshots (the only run that writes them)
	bash scripts/screenshots.sh

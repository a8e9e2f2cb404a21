# exorun: everything a fresh machine needs beyond the Rust toolchain is
# installed from here (the wasm32-wasip2 target, the test venv).
#
#   make demo   real automations against the built-in simulated tenant
#   make test   the whole suite (lint + unit + end-to-end)

SHELL := /bin/bash
CARGO ?= cargo
EXORUN := target/debug/exorun
VENV := .venv
PYTHON_TEST_PACKAGES := msal==1.39.0 azure-identity==1.27.0 requests==2.32.5
RUST_PLUGINS := plugins/mailbox-report plugins/forwarding-audit

.PHONY: all setup wasm-target venv exorun plugins demo test lint bench clean

all: test

setup: wasm-target

# Guests compile to wasm32-wasip2; the target comes from rustup.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
		|| rustup target add wasm32-wasip2

# Real OAuth clients (msal, azure-identity) that the simulator tests point
# at the simulated Entra ID, pinned.
venv: $(VENV)/.installed
$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PYTHON_TEST_PACKAGES)
	touch $@

exorun: setup
	$(CARGO) build -p exorun

# Builds each plugin from source and pins its digest in exorun.toml.
plugins: exorun
	@for p in $(RUST_PLUGINS); do $(EXORUN) build $$p || exit 1; done

demo: plugins
	@echo
	@echo "== Certificate sign-in to the simulated tenant (exorun connect) =="
	@$(EXORUN) connect
	@echo
	@echo "== What may mailbox-report do? (exorun inspect) =="
	@$(EXORUN) inspect plugins/mailbox-report
	@echo
	@echo "== Mailbox size report (Rust, read-only) =="
	@$(EXORUN) run plugins/mailbox-report --out target/mailbox-report.csv && head -n 12 target/mailbox-report.csv && echo "   … $$(($$(wc -l < target/mailbox-report.csv) - 1)) rows in target/mailbox-report.csv"
	@echo
	@echo "== Forwarding audit: mail leaving the accepted domains (Rust, read-only) =="
	@$(EXORUN) run plugins/forwarding-audit
	@echo
	@echo "== A plugin that oversteps its manifest is refused, call by call =="
	@$(EXORUN) build tests/plugins/hostile >/dev/null 2>&1
	@$(EXORUN) run tests/plugins/hostile --input attack=value-outside-set \
		|| echo "(exit code $$?: the run failed, as it should; nothing reached the tenant)"

test: setup venv
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	EXORUN_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
	rm -rf $(VENV) plugins/target tests/plugins/target

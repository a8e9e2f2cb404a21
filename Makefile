# exorun: everything a fresh machine needs beyond the Rust toolchain and
# Node.js is installed from here, pinned: the wasm32-wasip2 target (Rust
# plugins), componentize-py in .venv (Python plugins), componentize-js and
# esbuild under sdk/js/node_modules from its lock file (JavaScript plugins),
# Microsoft's Node.js OAuth clients the simulator is tested with, and, from
# Debian, the docker-registry, minisign, Chromium and nats-server the tests
# run for real.
#
#   make demo   real automations against the built-in simulated tenant
#   make test   the whole suite (lint + unit + end-to-end)

SHELL := /bin/bash
CARGO ?= cargo
EXORUN := target/debug/exorun
VENV := .venv
# componentize-py builds Python plugins; msal, azure-identity and requests
# are the real OAuth clients the simulator tests point at the simulated
# Entra ID.
PYTHON_PACKAGES := componentize-py==0.25.1 msal==1.39.0 azure-identity==1.27.0 requests==2.32.5
JS_SDK := sdk/js
# @azure/msal-node and @azure/identity, pinned by their lock file.
NODE_CLIENTS := runtime/sim/server/tests/clients/node
RUST_PLUGINS := plugins/mailbox-report plugins/forwarding-audit
PYTHON_PLUGINS := plugins/autoreply-report plugins/schedule-out-of-office
JS_PLUGINS := plugins/dg-membership-report plugins/remove-external-forwarding
PLUGINS := $(RUST_PLUGINS) $(PYTHON_PLUGINS) $(JS_PLUGINS)

.PHONY: bench-serve bench-scale-out bench-credentials all setup toolchains wasm-target venv js-toolchain node-clients system-packages exorun plugins demo test lint bench bench-peer clean

all: test

setup: toolchains node-clients system-packages

# Real components the tests start on 127.0.0.1: Debian's docker-registry
# (distribution 2.8, the OCI registry plugins are published to), minisign
# (whose `minisign -V` must accept exorun's signatures), and headless
# Chromium with its ChromeDriver (the dashboard's end-to-end tests), and
# nats-server (2.9, JetStream: the tenant budget shared across machines),
# each as package:command.
DEBIAN_PACKAGES := docker-registry:docker-registry minisign:minisign chromium:chromium chromium-driver:chromedriver nats-server:nats-server
system-packages:
	@missing=""; for pc in $(DEBIAN_PACKAGES); do command -v $${pc#*:} >/dev/null || missing="$$missing $${pc%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages the tests use:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "not root: install them with: sudo apt-get install -y$$missing"; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null \
			|| { echo "apt-get update first"; apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null; } \
			|| { echo "installing$$missing failed"; exit 1; }; \
	fi

# Everything `exorun build` needs for Rust, Python and JavaScript plugins.
toolchains: wasm-target venv js-toolchain

# Guests compile to wasm32-wasip2; the target comes from rustup.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
		|| rustup target add wasm32-wasip2

venv: $(VENV)/.installed
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PYTHON_PACKAGES)
	touch $@

# Exactly the versions in sdk/js/package-lock.json.
js-toolchain: $(JS_SDK)/node_modules/.package-lock.json
$(JS_SDK)/node_modules/.package-lock.json: $(JS_SDK)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for JavaScript plugins: install Node.js 20 or later (apt install nodejs npm)"; exit 1; }
	npm ci --prefix $(JS_SDK) --no-audit --no-fund --loglevel=error
	touch $@

# Exactly the versions in runtime/sim/server/tests/clients/node/package-lock.json.
node-clients: $(NODE_CLIENTS)/node_modules/.package-lock.json
$(NODE_CLIENTS)/node_modules/.package-lock.json: $(NODE_CLIENTS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the simulator's Node.js client tests: install Node.js 20 or later (apt install nodejs npm)"; exit 1; }
	npm ci --prefix $(NODE_CLIENTS) --no-audit --no-fund --loglevel=error
	touch $@

exorun: toolchains
	$(CARGO) build -p exorun

# Builds each plugin from source into a runnable, pinned copy under
# target/plugins/, leaving the tracked plugin folders as they are (Python
# and JavaScript builds differ every time, so a pin in the tracked
# exorun.toml would change with each build).
BUILT := target/plugins
# The sharing demo keeps its store, trust policy and keys here.
DEMO := target/demo
SHARE := EXORUN_PLUGINS_DIR=$(DEMO)/plugins EXORUN_TRUST_POLICY=$(DEMO)/trust.toml $(EXORUN)
plugins: exorun
	@for p in $(PLUGINS); do $(EXORUN) build $$p --out-dir $(BUILT)/$$(basename $$p) || exit 1; done

demo: plugins
	@echo
	@echo "== Certificate sign-in to the simulated tenant (exorun connect) =="
	@$(EXORUN) connect
	@echo
	@echo "== What may mailbox-report do? (exorun inspect) =="
	@$(EXORUN) inspect $(BUILT)/mailbox-report
	@echo
	@echo "== Mailbox size report (Rust, read-only) =="
	@$(EXORUN) run $(BUILT)/mailbox-report --out target/mailbox-report.csv && head -n 12 target/mailbox-report.csv && echo "   … $$(($$(wc -l < target/mailbox-report.csv) - 1)) rows in target/mailbox-report.csv"
	@echo
	@echo "== Forwarding audit: mail leaving the accepted domains (Rust, read-only) =="
	@$(EXORUN) run $(BUILT)/forwarding-audit
	@echo
	@echo "== Automatic replies that are on (Python, read-only) =="
	@echo "   (the first run of a Python or JavaScript plugin compiles it, a few seconds; later runs start from the cache)"
	@$(EXORUN) run $(BUILT)/autoreply-report --out target/autoreply-report.csv && head -n 8 target/autoreply-report.csv
	@echo
	@echo "== Schedule out-of-office for two users (Python, write: Identity must match the tenant's domain) =="
	@$(EXORUN) run $(BUILT)/schedule-out-of-office --input users=jose.nunez@contoso.com,zoe.brooks@contoso.com \
		--input start=2026-12-21T08:00:00Z --input end=2027-01-04T08:00:00Z \
		--input "internal-message=I am away until 4 January."
	@echo
	@echo "== Distribution group membership (JavaScript, read-only) =="
	@$(EXORUN) run $(BUILT)/dg-membership-report --out target/dg-membership.csv && head -n 8 target/dg-membership.csv
	@echo
	@echo "== Remove forwarding to outside the accepted domains (JavaScript, write) =="
	@$(EXORUN) run $(BUILT)/remove-external-forwarding
	@echo
	@echo "== A plugin that oversteps its manifest is refused, call by call =="
	@$(EXORUN) build tests/plugins/hostile --out-dir $(BUILT)/hostile >/dev/null 2>&1
	@$(EXORUN) run $(BUILT)/hostile --input attack=value-outside-set \
		|| echo "(exit code $$?: the run failed, as it should; nothing reached the tenant)"
	@echo
	@echo "== The operator's policy narrows a plugin further, and a refusal names the policy's line (docs/examples/operator-policy.toml) =="
	@$(EXORUN) inspect $(BUILT)/remove-external-forwarding --effective --policy docs/examples/operator-policy.toml | sed -n '/^Cmdlets/,$$p'
	@$(EXORUN) run $(BUILT)/remove-external-forwarding --policy docs/examples/operator-policy.toml --quiet | head -n 3
	@echo
	@echo "== An object scope: a plugin held to the Sales department cannot write anyone else's mailbox, however it names it (docs/scopes.md) =="
	@$(EXORUN) build tests/plugins/scope-probe --out-dir $(BUILT)/scope-probe >/dev/null 2>&1
	@$(EXORUN) inspect $(BUILT)/scope-probe | sed -n '/^Scope/,$$p'
	@$(EXORUN) run $(BUILT)/scope-probe --quiet --input action=write \
		--input $$'targets=jurgen.muller@contoso.com\njose.nunez\njose.nunez@contoso.onmicrosoft.com\njo*'
	@echo
	@echo "== An Exchange role for the app itself: exactly what two plugins need, so the tenant refuses the rest too (docs/exchange-role.md) =="
	@$(EXORUN) rbac plan $(BUILT)/remove-external-forwarding $(BUILT)/mailbox-report > target/rbac-plan.ps1 2> target/rbac-plan.err \
		|| { cat target/rbac-plan.err; exit 1; }
	@grep -v '^Remove-ManagementRoleEntry' target/rbac-plan.ps1
	@echo "# … and $$(grep -c '^Remove-ManagementRoleEntry' target/rbac-plan.ps1) Remove-ManagementRoleEntry lines: each entry of the parent roles that no plugin needs (all in target/rbac-plan.ps1)"
	@grep -v '^exorun: no connection settings' target/rbac-plan.err || true
	@echo
	@echo "== Share a plugin: sign it, bundle it, trust its publisher, install with consent, run it by name =="
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@echo "demo signing key password" > $(DEMO)/key.password
	@$(SHARE) key new --out $(DEMO) --name contoso-it --password-file $(DEMO)/key.password | head -n 1
	@$(SHARE) bundle $(BUILT)/forwarding-audit --namespace contoso -o $(DEMO)/forwarding-audit-0.1.0.tar \
		--sign $(DEMO)/contoso-it.key --key-password-file $(DEMO)/key.password
	@$(SHARE) trust add $(DEMO)/contoso-it.pub --publisher "Contoso IT" --namespace contoso
	@echo y | $(SHARE) install $(DEMO)/forwarding-audit-0.1.0.tar
	@$(SHARE) run forwarding-audit --quiet | head -n 4
	@echo
	@echo "== Version 0.2.0 asks for one more parameter: the upgrade is held until someone approves it =="
	@cp -r $(BUILT)/forwarding-audit $(DEMO)/v2
	@sed -i 's/^version = "0.1.0"/version = "0.2.0"/; s/^ResultSize = .*/&\nRecipientTypeDetails = { set = ["UserMailbox", "SharedMailbox"] }/' $(DEMO)/v2/exorun.toml
	@$(SHARE) bundle $(DEMO)/v2 --namespace contoso -o $(DEMO)/forwarding-audit-0.2.0.tar \
		--sign $(DEMO)/contoso-it.key --key-password-file $(DEMO)/key.password >/dev/null
	@$(SHARE) upgrade forwarding-audit --from $(DEMO)/forwarding-audit-0.2.0.tar </dev/null > $(DEMO)/upgrade.txt; \
		code=$$?; cat $(DEMO)/upgrade.txt; test $$code = 3 || { echo "expected the upgrade to be held (exit 3), got $$code"; exit 1; }
	@$(SHARE) list
	@$(SHARE) upgrade forwarding-audit --approve "$$(sed -n 's/.*--approve //p' $(DEMO)/upgrade.txt)"

test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/python -m unittest discover --start-directory sdk/python/tests
	npm test --prefix $(JS_SDK) --silent
	EXORUN_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	EXORUN_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) bench --workspace

# exorun against the plain msal + requests script an admin writes today,
# on one simulated tenant, unthrottled and at 500 calls a second.
bench-peer: setup
	EXORUN_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) bench -p exorun-e2e --bench peer

# exorun serve under load: 10,000 scheduled runs on an accelerated clock
# (lateness, RSS), 100 API clients polling run status, the dashboard's run
# page (tests/benches/serve.rs).
bench-serve: setup
	$(CARGO) bench -p exorun-e2e --bench serve

# 1,000 runs over 5 simulated tenants through NATS JetStream, taken by 1, 2
# and 3 workers (tests/benches/scale_out.rs).
bench-scale-out: setup
	$(CARGO) bench -p exorun-e2e --bench scale_out

# Sign-in forms and a whole certificate rotation, timed against one
# simulated tenant (tests/benches/credentials.sh).
bench-credentials: setup
	$(CARGO) build -p exorun
	tests/benches/credentials.sh

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(JS_SDK)/node_modules $(NODE_CLIENTS)/node_modules plugins/target tests/plugins/target

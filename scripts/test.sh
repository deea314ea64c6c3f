#!/usr/bin/env bash
# Installs what the tests need, then checks formatting and lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets

#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 660), one after the other, and
# keeps the corpus and any crash under fuzz/. Needs cargo-fuzz
# (`cargo install cargo-fuzz`); stable Rust works with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-660}
export RUSTC_BOOTSTRAP=1
for target in http_head hub_request mcp_line watch_answer search; do
  echo "== $target for $seconds s"
  mkdir -p "corpus/$target"
  cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -print_final_stats=1 2>&1 | tail -n 25
done

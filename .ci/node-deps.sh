#!/usr/bin/env bash
# Installs the npm packages the gate's end-to-end client test needs
# (internal/gate/node_test.go, run with MODELGATE_NODE_CLIENT=1): the
# official Hugging Face JavaScript client, @huggingface/hub, pinned exactly
# in internal/gate/testdata/node/package.json and locked (with integrity
# hashes) in its package-lock.json. Needs node >= 18 and npm.
set -euo pipefail
cd "$(dirname "$0")/../internal/gate/testdata/node"
# npm ci installs exactly what package-lock.json says and fails if it does
# not match package.json; it never rewrites the lock file. It starts from an
# empty node_modules each time (about 5 s).
npm ci --no-audit --no-fund --loglevel=error
node -e 'const p = require("./node_modules/@huggingface/hub/package.json"); console.log("node-deps: " + p.name + " " + p.version)'

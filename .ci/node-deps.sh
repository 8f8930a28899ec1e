#!/usr/bin/env bash
# Installs the npm packages the suites need, each pinned exactly in a
# package.json and locked (with integrity hashes) in its package-lock.json:
# - the gate's end-to-end client test (internal/gate/node_test.go, run with
#   MODELGATE_NODE_CLIENT=1): the official Hugging Face JavaScript client,
#   @huggingface/hub, in internal/gate/testdata/node;
# - the TF.js fixture proof (internal/formats/tensordata/testdata/
#   make_fixtures.py --check): the real loader, @tensorflow/tfjs, in
#   internal/formats/tensordata/testdata/tfjs.
# Needs node >= 18 and npm.
set -euo pipefail
cd "$(dirname "$0")/../internal/gate/testdata/node"
# npm ci installs exactly what package-lock.json says and fails if it does
# not match package.json; it never rewrites the lock file. It starts from an
# empty node_modules each time (about 5 s).
npm ci --no-audit --no-fund --loglevel=error
node -e 'const p = require("./node_modules/@huggingface/hub/package.json"); console.log("node-deps: " + p.name + " " + p.version)'
cd ../../../formats/tensordata/testdata/tfjs
npm ci --no-audit --no-fund --loglevel=error
node -e 'const p = require("./node_modules/@tensorflow/tfjs/package.json"); console.log("node-deps: " + p.name + " " + p.version)'

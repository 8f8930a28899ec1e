// Cross-checks the GGUF fixtures against an independent reader,
// @huggingface/gguf (npm). Not needed by the Go tests; see README.md.
//
//   mkdir -p /tmp/hfgguf && cd /tmp/hfgguf && npm pack @huggingface/gguf &&
//   mkdir -p node_modules/@huggingface && tar xzf huggingface-gguf-*.tgz &&
//   mv package node_modules/@huggingface/gguf &&
//   NODE_PATH=/tmp/hfgguf/node_modules node internal/formats/gguf/testdata/hf-gguf-check.mjs
//
// (run from the repository root). It exits non-zero if a well-formed
// fixture fails to parse, if a malformed one parses, or if a chat template
// read back differs from the template the fixture was built from.
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { gguf } = require("@huggingface/gguf");
const dir = new URL("./gguf/", import.meta.url).pathname;
const templates = new URL("./templates/", import.meta.url).pathname;
const source = (f) => readFileSync(join(templates, f), "utf8");
const want = {
  "benign-llama3-v3.gguf": { "tokenizer.chat_template": source("benign/llama-3-8b-instruct.jinja") },
  "benign-qwen2-v2.gguf": { "tokenizer.chat_template": source("benign/qwen2-7b-instruct.jinja") },
  "benign-gemma-v1.gguf": { "tokenizer.chat_template": source("benign/gemma-2-it.jinja") },
  "benign-mistral-v3-bigendian.gguf": { "tokenizer.chat_template": source("benign/mistral-7b-instruct-v0.3.jinja") },
  "benign-named-templates.gguf": { "tokenizer.chat_template.tool_use": source("benign/hermes-3-llama-3.1-tool-use.jinja") },
  "malicious-cve-2024-34359-v3.gguf": { "tokenizer.chat_template": source("malicious/cve-2024-34359-poc.jinja") },
  "malicious-named-template.gguf": { "tokenizer.chat_template.tool_use": source("malicious/cycler-init-globals-os-popen.jinja") },
  // Duplicate keys: this reader keeps the last value (llama.cpp refuses the file).
  "malicious-duplicate-template.gguf": { "tokenizer.chat_template": source("malicious/cycler-init-globals-os-popen.jinja") },
  "malicious-cycler-v1-bigendian.gguf": { "tokenizer.chat_template": source("malicious/cycler-init-globals-os-popen.jinja") },
  // The payload's key ends in a NUL: this reader keeps it as a separate key
  // and sees the benign template, llama.cpp (strcmp) renders the payload.
  "malicious-nul-key-template.gguf": {
    "tokenizer.chat_template": source("benign/llama-3-8b-instruct.jinja"),
    "tokenizer.chat_template\0": source("malicious/cycler-init-globals-os-popen.jinja"),
  },
};
// Files this reader must refuse.
const refused = new Set(["malformed-bad-value-type.gguf", "malformed-huge-kv-count.gguf"]);
// Files cut short inside a string: llama.cpp and modelgate refuse them, but
// this reader reads the bytes present (padded with NULs) and carries on.
const clamped = new Set(["malformed-truncated-string.gguf", "malicious-truncated-after-template.gguf", "malicious-template-past-eof.gguf"]);
want["malicious-template-past-eof.gguf"] = { "tokenizer.chat_template": source("malicious/cycler-init-globals-os-popen.jinja") };
let failed = 0;
for (const name of readdirSync(dir).sort()) {
  const broken = refused.has(name);
  try {
    const { metadata, tensorInfos } = await gguf(join(dir, name), { allowLocalFile: true });
    if (broken) {
      console.log(`FAIL ${name}: parsed, but it is malformed`);
      failed++;
      continue;
    }
    if (clamped.has(name)) {
      console.log(`ok   ${name}: parsed although a string runs past the end (divergence: llama.cpp refuses it)`);
    }
    for (const [key, text] of Object.entries(want[name] ?? {})) {
      // A clamped string comes back padded with NULs up to its declared length.
      const got = clamped.has(name) ? String(metadata[key]).replace(/\0+$/, "") : metadata[key];
      if (got !== text) {
        console.log(`FAIL ${name}: ${key} differs from its source`);
        failed++;
      }
    }
    console.log(`ok   ${name}: v${metadata.version}, ${metadata.tensor_count} tensors, ${metadata.kv_count} kv, ` +
      `arch ${metadata["general.architecture"]}, tensors ${tensorInfos.map((t) => `${t.name}[${t.shape}]@${t.offset}`).join(" ")}`);
  } catch (e) {
    if (broken) {
      console.log(`ok   ${name}: refused (${e.message.slice(0, 80)})`);
    } else {
      console.log(`FAIL ${name}: ${e.message}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);

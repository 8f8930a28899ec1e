// A real Hugging Face Hub client run against the gate: the official
// @huggingface/hub library with hubUrl = the gate. Used by
// internal/gate/node_test.go (MODELGATE_NODE_CLIENT=1); install the library
// with .ci/node-deps.sh.
//
//	node client.mjs GATE_URL REPO FILE OUT [--chunk N] [--token T] [--cache-dir DIR]
//
// It reads the repository's info (modelInfo), lists its files (listFiles,
// recursive, following the Link pagination), then downloads FILE
// (downloadFile: fileDownloadInfo probes with Range: bytes=0-0, then a
// WebBlob reads the content) and writes the bytes to OUT. With --chunk N the
// blob is read in slices of N bytes, one Range request each, as a consumer
// of WebBlob.slice does; without it, in one whole-file GET. With --cache-dir
// the file is fetched by downloadFileToCacheDir instead (as snapshotDownload
// does): it asks paths-info (a POST) for the etag and commit first, then
// downloads into the huggingface_hub cache layout under DIR.
//
// It prints one line of JSON on stdout and exits 0:
//
//	{"ok":true,"model":{...},"files":[{path,type,size,hasXetHash,modelgate}],
//	 "size":N,"sha256":"...","requests":[{method,url,range,status}]}
//
// On an error it prints {"ok":false,"error":MESSAGE,"status":HTTP,...} (the
// library's message: the Hub's, or the gate's, JSON "error") and exits 1.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { downloadFile, downloadFileToCacheDir, listFiles, modelInfo } from "@huggingface/hub";

// The library logs its cache writes with console.debug, on stdout, where
// this script's one line of JSON goes.
console.debug = () => {};

function usage() {
	console.error("usage: node client.mjs GATE_URL REPO FILE OUT [--chunk N] [--token T] [--cache-dir DIR]");
	process.exit(2);
}

const args = process.argv.slice(2);
const pos = [];
let chunk = 0;
let token;
let cacheDir;
for (let i = 0; i < args.length; i++) {
	if (args[i] === "--chunk") {
		chunk = Number(args[++i]);
		if (!Number.isInteger(chunk) || chunk <= 0) usage();
	} else if (args[i] === "--token") {
		token = args[++i];
	} else if (args[i] === "--cache-dir") {
		cacheDir = args[++i];
	} else {
		pos.push(args[i]);
	}
}
if (pos.length !== 4) usage();
const [hubUrl, repo, path, out] = pos;

// Every request the library makes, for the test's assertions.
const requests = [];
const loggingFetch = async (input, init) => {
	const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
	const headers = new Headers(init?.headers);
	const entry = { method: init?.method ?? "GET", url, range: headers.get("Range") ?? "" };
	requests.push(entry);
	const resp = await fetch(input, init);
	entry.status = resp.status;
	return resp;
};

const common = { hubUrl, fetch: loggingFetch, ...(token ? { accessToken: token } : {}) };
const result = { ok: false, requests };

try {
	const info = await modelInfo({ name: repo, ...common });
	result.model = { name: info.name, private: info.private, gated: info.gated };

	result.files = [];
	for await (const entry of listFiles({ repo, recursive: true, ...common })) {
		result.files.push({
			path: entry.path,
			type: entry.type,
			size: entry.size,
			lfs: entry.lfs ? { oid: entry.lfs.oid, size: entry.lfs.size } : undefined,
			hasXetHash: Object.keys(entry).some((k) => k.toLowerCase().startsWith("xet")),
			modelgate: entry.modelgate,
		});
	}

	let bytes;
	if (cacheDir) {
		const pointer = await downloadFileToCacheDir({ repo, path, cacheDir, ...common });
		bytes = new Uint8Array(await readFile(pointer));
		result.cachePath = pointer;
		result.blobSize = bytes.length;
	} else {
		const blob = await downloadFile({ repo, path, ...common });
		if (!blob) throw new Error(`${path}: not found (downloadFile returned null)`);
		if (chunk > 0) {
			const parts = [];
			for (let off = 0; off < blob.size; off += chunk) {
				parts.push(new Uint8Array(await blob.slice(off, Math.min(off + chunk, blob.size)).arrayBuffer()));
			}
			bytes = Buffer.concat(parts);
		} else {
			bytes = new Uint8Array(await blob.arrayBuffer());
		}
		result.blobSize = blob.size;
	}
	await writeFile(out, bytes);
	result.size = bytes.length;
	result.sha256 = createHash("sha256").update(bytes).digest("hex");
	result.ok = true;
	console.log(JSON.stringify(result));
} catch (err) {
	result.error = err?.message ?? String(err);
	if (err?.statusCode !== undefined) result.status = err.statusCode;
	if (err?.data !== undefined) result.data = err.data;
	console.log(JSON.stringify(result));
	console.error(`error: ${result.error}`);
	process.exit(1);
}

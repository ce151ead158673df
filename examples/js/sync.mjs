// Incremental sync of key results: node sync.mjs [state.json] [pageSize]
// Reads OKR_API_KEY (and OKR_API_URL) from the environment; prints one summary line.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { OkrHubClient, syncKeyResults } from "./okr-client.mjs";

const stateFile = process.argv[2] ?? "okr-sync-state.json";
const pageSize = Number(process.argv[3] ?? "100");
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : {};
const client = new OkrHubClient(
  process.env.OKR_API_KEY,
  process.env.OKR_API_URL ?? "http://127.0.0.1:8000",
);
const changed = await syncKeyResults(client, state, { pageSize });
writeFileSync(stateFile, JSON.stringify(state));
for (const kr of changed) {
  console.log(`${kr.id}\t${kr.health}\t${kr.progress.toFixed(2)}\t${kr.title}`);
}
console.log(
  `synced ${changed.length} key results (${client.pagesFetched} pages, ` +
    `${client.retriesAfter429} retries after 429)`,
);

// Removes the "funding" entries (sponsor web addresses) that npm copies into
// package-lock.json, so the lock names no web address at all. The .npmrc here
// already keeps registry download addresses ("resolved") out of it.
// Run after any lock change:  npm run lock
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("./package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);

const leftover = readFileSync(path, "utf8").match(/https?:\/\/\S+/g);
if (leftover) {
  console.error(`package-lock.json still names addresses: ${leftover.join(", ")}`);
  process.exit(1);
}

#!/usr/bin/env node
// Better Auth's own password hashing (hashPassword / verifyPassword exported by
// "better-auth/crypto"; scrypt N=16384 r=16 p=1 dkLen=64 over the NFKC password).
//
//   node hash_password.mjs <password>                 prints "<saltHex>:<keyHex>"
//   node hash_password.mjs --verify <hash> <password> prints "true" or "false"
//
// Usage errors exit 2.

import { hashPassword, verifyPassword } from "better-auth/crypto";

const args = process.argv.slice(2);
if (args.length === 1 && args[0] !== "--verify") {
  process.stdout.write(`${await hashPassword(args[0])}\n`);
} else if (args.length === 3 && args[0] === "--verify") {
  process.stdout.write(`${await verifyPassword({ hash: args[1], password: args[2] })}\n`);
} else {
  console.error("usage: node hash_password.mjs <password> | --verify <hash> <password>");
  process.exit(2);
}

#!/usr/bin/env node
// Drives the REAL better-auth server library (betterAuth() on a pg Pool, i.e. its
// built-in Kysely adapter) against a PostgreSQL database, so the Python service
// can be tested on rows and cookies that Better Auth itself wrote, and Better
// Auth on rows and cookies that the Python service wrote.
//
//   node seed_better_auth_db.mjs <postgres-url> <secret> <baseURL> [options]
//
// Default (seed) mode:
//   1. Runs Better Auth's own migrator (getMigrations from "better-auth/db/migration",
//      the programmatic `npx auth migrate`): camelCase quoted columns, timestamptz.
//   2. Signs up two users with auth.api.signUpEmail (scrypt hashes, sessions).
//   3. Prints one JSON object: {"migration": {...}, "users": [{email, password, name,
//      userId, sessionToken, cookieName, cookieValue, setCookie}, ...]}.
//
// Options:
//   --naming snake_case   Map Better Auth's fields and tables onto snake_case columns
//                         (the Drizzle CLI's layout, which auth-service's own migrations
//                         create) through user.fields / session.fields / account.fields /
//                         verification.fields. Default: camelCase (no mapping).
//   --no-migrate          Only report the migration plan; change no schema.
//   --check <json>        Verify mode instead of seeding: {"cookies": ["<Cookie header>", ...],
//                         "signIns": [{"email": ..., "password": ...}, ...]}. Prints
//                         {"sessions": [getSession result or null, ...],
//                          "signIns": [{"ok": bool, "status"?, "code"?, "userId"?,
//                                       "cookieValue"?}, ...]}.
//
// Exits 0 on success, 1 on a failure (message on stderr), 2 on a usage error.

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

const SESSION_COOKIE = "better-auth.session_token";

function usage(message) {
  console.error(`${message}\nusage: node seed_better_auth_db.mjs <postgres-url> <secret> ` +
    "<baseURL> [--naming snake_case|camelCase] [--no-migrate] [--check <json>]");
  process.exit(2);
}

function parseArgs(argv) {
  const positional = [];
  const options = { naming: "camelCase", migrate: true, check: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--naming") options.naming = argv[++i];
    else if (arg === "--no-migrate") options.migrate = false;
    else if (arg === "--check") options.check = JSON.parse(argv[++i] ?? "null");
    else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 3) usage("expected three arguments");
  if (!["camelCase", "snake_case"].includes(options.naming)) usage("bad --naming");
  const [databaseUrl, secret, baseURL] = positional;
  return { databaseUrl, secret, baseURL, ...options };
}

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const fields = (...names) => Object.fromEntries(names.map((n) => [n, snake(n)]));

// Better Auth's logical field names -> the snake_case SQL columns of the Drizzle layout.
const SNAKE_CASE_MODELS = {
  user: { fields: fields("emailVerified", "createdAt", "updatedAt") },
  session: {
    fields: fields("expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId"),
  },
  account: {
    fields: fields(
      "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
      "accessTokenExpiresAt", "refreshTokenExpiresAt", "createdAt", "updatedAt",
    ),
  },
  verification: { fields: fields("expiresAt", "createdAt", "updatedAt") },
};

function createAuth({ databaseUrl, secret, baseURL, naming }) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const options = {
    database: pool,
    secret,
    baseURL,
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    logger: { level: "error" },
    ...(naming === "snake_case" ? SNAKE_CASE_MODELS : {}),
  };
  return { auth: betterAuth(options), options, pool };
}

function sessionCookie(headers) {
  for (const line of headers.getSetCookie()) {
    const pair = line.split(";", 1)[0];
    const eq = pair.indexOf("=");
    if (pair.slice(0, eq) === SESSION_COOKIE) {
      return { name: SESSION_COOKIE, value: pair.slice(eq + 1), setCookie: line };
    }
  }
  return null;
}

async function migrate(options, run) {
  const plan = await getMigrations(options);
  const summary = {
    toBeCreated: plan.toBeCreated.map((t) => t.table),
    toBeAdded: plan.toBeAdded.map((t) => ({ table: t.table, fields: Object.keys(t.fields) })),
    schemaProblems: plan.schemaProblems,
    unsafeChanges: plan.unsafeChanges,
    ran: false,
  };
  if (run && (plan.toBeCreated.length || plan.toBeAdded.length || plan.toBeAddedIndexes.length)) {
    await plan.runMigrations();
    summary.ran = true;
  }
  return summary;
}

async function signUp(auth, user) {
  const { headers, response } = await auth.api.signUpEmail({
    body: { email: user.email, password: user.password, name: user.name },
    headers: new Headers({ "user-agent": "better-auth-seeder" }),
    returnHeaders: true,
  });
  const cookie = sessionCookie(headers);
  if (!cookie) throw new Error(`sign-up of ${user.email} set no session cookie`);
  return {
    ...user,
    userId: response.user.id,
    sessionToken: response.token,
    cookieName: cookie.name,
    cookieValue: cookie.value,
    setCookie: cookie.setCookie,
  };
}

async function seed(auth, options, migrateSchema) {
  const migration = await migrate(options, migrateSchema);
  const tag = Math.random().toString(36).slice(2, 10);
  const users = [];
  for (const [i, name] of ["Ada Lovelace", "Grace Hopper"].entries()) {
    users.push(await signUp(auth, {
      email: `ba-user${i + 1}-${tag}@example.com`,
      password: `Better-Auth pw ${i + 1} ${tag}`,
      name,
    }));
  }
  return { migration, users };
}

async function check(auth, { cookies = [], signIns = [] }) {
  const sessions = [];
  for (const cookie of cookies) {
    sessions.push(await auth.api.getSession({ headers: new Headers({ cookie }) }));
  }
  const results = [];
  for (const { email, password } of signIns) {
    try {
      const { headers, response } = await auth.api.signInEmail({
        body: { email, password },
        headers: new Headers({ "user-agent": "better-auth-checker" }),
        returnHeaders: true,
      });
      results.push({ ok: true, userId: response.user.id, cookieValue: sessionCookie(headers)?.value });
    } catch (error) {
      results.push({
        ok: false, status: error.statusCode, code: error.body?.code, message: error.message,
      });
    }
  }
  return { sessions, signIns: results };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { auth, options, pool } = createAuth(args);
  try {
    const result = args.check ? await check(auth, args.check) : await seed(auth, options, args.migrate);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await pool.end();
  }
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});

#!/usr/bin/env node
// Drives the REAL better-auth jwt() plugin against a PostgreSQL database whose schema
// auth-service's own migrations made (the snake_case Drizzle layout), so the JWKS keys and
// JWTs of both implementations can be checked against each other.
//
//   node better_auth_jwks.mjs <postgres-url> <secret> <baseURL> sign
//     Signs up a user with auth.api.signUpEmail, then asks the jwt plugin for a JWT
//     (auth.api.getToken, which creates the JWKS key on first use) and for the key set
//     (auth.api.getJwks). Prints {"userId", "email", "token", "jwks"}.
//
//   node better_auth_jwks.mjs <postgres-url> <secret> <baseURL> verify <jwt> <jwks-url>
//     Verifies a JWT two ways and prints {"jose": {"header", "payload"} | {"error"},
//     "betterAuth": <payload> | null}:
//       - jose's jwtVerify with the key set fetched from <jwks-url> (issuer and audience =
//         <baseURL>), as any resource server would;
//       - Better Auth's own auth.api.verifyJWT, which reads the keys from the jwks table.
//
// Exits 0 on success, 1 on a failure (message on stderr), 2 on a usage error.

import { betterAuth } from "better-auth";
import { jwt } from "better-auth/plugins";
import { createLocalJWKSet, jwtVerify } from "jose";
import pg from "pg";

const SESSION_COOKIE = "better-auth.session_token";

function usage(message) {
  console.error(`${message}\nusage: node better_auth_jwks.mjs <postgres-url> <secret> <baseURL> ` +
    "sign | verify <jwt> <jwks-url>");
  process.exit(2);
}

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const fields = (...names) => Object.fromEntries(names.map((n) => [n, snake(n)]));

// Better Auth's logical field names -> the snake_case SQL columns auth-service creates.
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
const JWKS_FIELDS = { jwks: { fields: fields("publicKey", "privateKey", "createdAt", "expiresAt") } };

function createAuth(databaseUrl, secret, baseURL) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const auth = betterAuth({
    database: pool,
    secret,
    baseURL,
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    logger: { level: "error" },
    plugins: [jwt({ schema: JWKS_FIELDS })],
    ...SNAKE_CASE_MODELS,
  });
  return { auth, pool };
}

function sessionCookie(headers) {
  for (const line of headers.getSetCookie()) {
    const pair = line.split(";", 1)[0];
    if (pair.startsWith(`${SESSION_COOKIE}=`)) return pair;
  }
  throw new Error("sign-up set no session cookie");
}

async function sign(auth) {
  const email = `ba-jwt-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const { headers, response } = await auth.api.signUpEmail({
    body: { email, password: "Better-Auth jwt pw", name: "Jwt Interop" },
    headers: new Headers({ "user-agent": "better-auth-jwks" }),
    returnHeaders: true,
  });
  const cookie = sessionCookie(headers);
  const { token } = await auth.api.getToken({ headers: new Headers({ cookie }) });
  const jwks = await auth.api.getJwks();
  return { userId: response.user.id, email, token, jwks };
}

async function verify(auth, baseURL, token, jwksUrl) {
  const response = await fetch(jwksUrl);
  if (!response.ok) throw new Error(`GET ${jwksUrl} answered ${response.status}`);
  const keySet = createLocalJWKSet(await response.json());
  let jose;
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keySet, {
      issuer: baseURL,
      audience: baseURL,
    });
    jose = { header: protectedHeader, payload };
  } catch (error) {
    jose = { error: `${error.code ?? error.name}: ${error.message}` };
  }
  const { payload } = await auth.api.verifyJWT({ body: { token } });
  return { jose, betterAuth: payload };
}

async function main() {
  const [databaseUrl, secret, baseURL, mode, ...rest] = process.argv.slice(2);
  if (!databaseUrl || !secret || !baseURL) usage("expected three arguments and a mode");
  if (mode === "sign" && rest.length !== 0) usage("sign takes no arguments");
  else if (mode === "verify" && rest.length !== 2) usage("verify takes <jwt> <jwks-url>");
  else if (mode !== "sign" && mode !== "verify") usage(`unknown mode ${mode}`);
  const { auth, pool } = createAuth(databaseUrl, secret, baseURL);
  try {
    const result = mode === "sign" ? await sign(auth) : await verify(auth, baseURL, ...rest);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await pool.end();
  }
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});

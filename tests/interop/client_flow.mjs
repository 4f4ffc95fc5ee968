#!/usr/bin/env node
// Interop check: drive a running auth server with the OFFICIAL better-auth JS
// client (createAuthClient from "better-auth/client", pinned in package.json).
//
//   node client_flow.mjs <baseURL> [socialProvider]
//                                        e.g. node client_flow.mjs http://127.0.0.1:3100
//
// With a social provider id (an OAuth/OIDC provider configured on the server whose
// authorization endpoint approves at once, as the tests' provider does), the flow also signs
// in through it: signIn.social gives the authorize URL, the script follows the provider's
// redirect to the callback like a browser, then checks the session and listAccounts.
//
// A baseURL without a path gets the client's default basePath (/api/auth).
// Prints "ok <step>" per step, then one summary line. Exits 0 only when every
// step passed; on the first failure prints "FAIL <step>: <what was received>"
// and exits 1 (later steps depend on earlier ones, so they are skipped).
// Usage errors exit 2. INTEROP_TRACE=1 also prints every HTTP exchange.

import { createAuthClient } from "better-auth/client";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const SESSION_COOKIE_RE = /(^|\.)better-auth\.session_token$/;
const REQUEST_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------
// Cookie jar (Node's fetch has none). One jar per simulated browser/device.
// All of Better Auth's cookies use Path=/ on the API host, so the jar keys by
// name only and ignores Domain/Path; it honours Max-Age and Expires.
// ---------------------------------------------------------------------------
class CookieJar {
  #cookies = new Map(); // name -> { value, expiresAt: ms | null }

  cookieHeader() {
    this.#dropExpired();
    return [...this.#cookies].map(([name, c]) => `${name}=${c.value}`).join("; ");
  }

  storeFrom(response) {
    for (const line of response.headers.getSetCookie()) this.#store(line);
  }

  names() {
    this.#dropExpired();
    return [...this.#cookies.keys()];
  }

  hasSessionCookie() {
    return this.names().some((n) => SESSION_COOKIE_RE.test(n));
  }

  #store(line) {
    const [pair, ...attrs] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let expiresAt = null;
    let maxAgeSeen = false;
    for (const attr of attrs) {
      const [rawKey, ...rest] = attr.split("=");
      const key = rawKey.trim().toLowerCase();
      const val = rest.join("=").trim();
      if (key === "max-age") {
        maxAgeSeen = true; // Max-Age wins over Expires (RFC 6265 5.3)
        const secs = Number(val);
        expiresAt = Number.isFinite(secs) ? Date.now() + secs * 1000 : null;
        if (secs <= 0) expiresAt = 0;
      } else if (key === "expires" && !maxAgeSeen) {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) expiresAt = t;
      }
    }
    if (expiresAt !== null && expiresAt <= Date.now()) this.#cookies.delete(name);
    else this.#cookies.set(name, { value, expiresAt });
  }

  #dropExpired() {
    const now = Date.now();
    for (const [name, c] of this.#cookies) {
      if (c.expiresAt !== null && c.expiresAt <= now) this.#cookies.delete(name);
    }
  }
}

// Recent HTTP exchanges of all devices, printed when a step fails.
const TRACE_KEEP = 8;
const trace = [];

function record(label, request, response, body) {
  const url = new URL(request.url);
  const cookies = response.headers.getSetCookie().map((l) => l.split(";", 2).map((x) => x.trim()).join("; "));
  trace.push(`${label} ${request.method} ${url.pathname}${url.search} -> ${response.status}`
    + `${cookies.length ? ` set-cookie: ${show(cookies)}` : ""} body: ${body.slice(0, 300)}`);
  if (process.env.INTEROP_TRACE) console.log(`  http ${trace.at(-1)}`);
  if (trace.length > TRACE_KEEP) trace.shift();
}

// A "device": an official client plus its own cookie jar. Every request
// carries Origin (as a browser's POST would) so the server's CSRF check passes.
// Note: Node's fetch always sends "sec-fetch-mode: cors", so even cookie-less
// sign-in/sign-up are refused (403 MISSING_OR_NULL_ORIGIN) without an Origin.
function makeDevice(label, baseURL) {
  const origin = new URL(baseURL).origin;
  const jar = new CookieJar();
  const client = createAuthClient({
    baseURL,
    fetchOptions: {
      timeout: REQUEST_TIMEOUT_MS,
      onRequest(context) {
        context.headers.set("origin", origin);
        const cookie = jar.cookieHeader();
        if (cookie) context.headers.set("cookie", cookie);
        else context.headers.delete("cookie");
      },
      async onResponse(context) {
        jar.storeFrom(context.response);
        record(label, context.request, context.response, await context.response.clone().text());
      },
    },
  });
  return { client, jar };
}

// ---------------------------------------------------------------------------
// Assertions: each throws a StepFailure describing what was received.
// ---------------------------------------------------------------------------
class StepFailure extends Error {}

function show(value) {
  return JSON.stringify(
    value,
    (_k, v) => (v instanceof Date ? `Date(${v.toISOString()})` : v),
  );
}

function check(cond, message, received) {
  if (!cond) {
    const tail = received === undefined ? "" : ` | received: ${show(received)}`;
    throw new StepFailure(`${message}${tail}`);
  }
}

// A successful call: {data, error:null}. Returns data.
function expectData(result, what) {
  check(result && typeof result === "object", `${what}: client returned no result object`, result);
  check(result.error === null, `${what}: expected success, got error`, result.error);
  return result.data;
}

// A failed call: {data:null, error:{status, code, message, ...}}.
function expectError(result, what, status, code) {
  check(result && typeof result === "object", `${what}: client returned no result object`, result);
  check(result.error, `${what}: expected error ${status} ${code}, got success`, result.data);
  check(result.data === null, `${what}: error result must have data=null`, result);
  check(
    result.error.status === status && result.error.code === code,
    `${what}: expected error ${status} ${code}`,
    result.error,
  );
  check(typeof result.error.message === "string" && result.error.message.length > 0,
    `${what}: error.message must be a non-empty string`, result.error);
}

function expectStatusTrue(result, what) {
  const data = expectData(result, what);
  check(data && data.status === true, `${what}: expected {status:true}`, data);
}

function expectDate(value, what) {
  check(value instanceof Date && !Number.isNaN(value.getTime()),
    `${what}: expected a revived Date`, value);
}

function expectUser(user, email, what) {
  check(user && typeof user === "object", `${what}: expected a user object`, user);
  check(typeof user.id === "string" && user.id.length > 0, `${what}: user.id`, user);
  check(user.email === email, `${what}: user.email should be ${show(email)}`, user);
  check(user.emailVerified === false, `${what}: user.emailVerified should be false`, user);
  expectDate(user.createdAt, `${what}: user.createdAt`);
  expectDate(user.updatedAt, `${what}: user.updatedAt`);
}

async function expectSignedIn(device, state, what) {
  const data = expectData(await device.client.getSession(), `${what}: getSession`);
  check(data && data.session && data.user, `${what}: getSession should return {session,user}`, data);
  const { session, user } = data;
  expectUser(user, state.email, `${what}: getSession`);
  check(user.id === state.userId, `${what}: getSession user.id`, user);
  check(session.userId === user.id, `${what}: session.userId should equal user.id`, session);
  check(typeof session.id === "string" && session.id.length > 0, `${what}: session.id`, session);
  check(typeof session.token === "string" && session.token.length > 0, `${what}: session.token`, session);
  for (const f of ["expiresAt", "createdAt", "updatedAt"]) expectDate(session[f], `${what}: session.${f}`);
  check(session.expiresAt.getTime() > Date.now(), `${what}: session.expiresAt should be in the future`, session);
  return data;
}

async function expectSignedOut(device, what) {
  const result = await device.client.getSession();
  const data = expectData(result, `${what}: getSession`);
  check(data === null, `${what}: getSession should return data=null when signed out`, data);
}

async function sessionTokens(device, what) {
  const data = expectData(await device.client.listSessions(), `${what}: listSessions`);
  check(Array.isArray(data), `${what}: listSessions should return an array`, data);
  for (const s of data) {
    check(s.userId && typeof s.token === "string", `${what}: listSessions item`, s);
    expectDate(s.expiresAt, `${what}: listSessions item expiresAt`);
  }
  return data.map((s) => s.token).sort();
}

function expectSameSet(actual, expected, what) {
  const want = [...expected].sort();
  check(show(actual) === show(want), `${what}: expected session tokens ${show(want)}`, actual);
}

function signIn(device, email, password) {
  return device.client.signIn.email({ email, password });
}

async function expectSignInOk(device, state, password, what) {
  const data = expectData(await signIn(device, state.rawEmail, password), what);
  check(data && typeof data.token === "string" && data.token.length > 0, `${what}: data.token`, data);
  check(data.redirect === false, `${what}: data.redirect should be false`, data);
  expectUser(data.user, state.email, what);
  check(device.jar.hasSessionCookie(), `${what}: no session cookie was set`, device.jar.names());
  return data.token;
}

// ---------------------------------------------------------------------------
// Steps. Each group gets the shared state and the devices.
// ---------------------------------------------------------------------------
function freshState() {
  const tag = randomBytes(6).toString("hex");
  const rawEmail = `Interop.${tag}@Example.COM`;
  return {
    rawEmail,
    email: rawEmail.toLowerCase(),
    password: `pw-${randomBytes(9).toString("base64url")}`,
    newPassword: `np-${randomBytes(9).toString("base64url")}`,
    name: `Interop ${tag}`,
    userId: null,
    token: null, // device A's current session token
  };
}

function signUpSteps(s, A) {
  return [
    ["signUp.email (fresh email)", async () => {
      const data = expectData(
        await A.client.signUp.email({ email: s.rawEmail, password: s.password, name: s.name }),
        "signUp");
      check(data && typeof data.token === "string" && data.token.length > 0, "signUp: data.token must be a string", data);
      expectUser(data.user, s.email, "signUp");
      check(data.user.name === s.name, "signUp: user.name", data.user);
      check(data.user.image === null, "signUp: user.image should be null", data.user);
      check(A.jar.hasSessionCookie(), "signUp: no session cookie was set", A.jar.names());
      s.userId = data.user.id;
      s.token = data.token;
    }],
    ["getSession (signed in after sign-up)", async () => {
      const { session } = await expectSignedIn(A, s, "getSession");
      check(session.token === s.token, "getSession: session.token should be the sign-up token", session);
    }],
    ["signOut", async () => {
      const data = expectData(await A.client.signOut(), "signOut");
      check(data && data.success === true, "signOut: expected {success:true}", data);
      check(!A.jar.hasSessionCookie(), "signOut: session cookie was not cleared (Max-Age=0)", A.jar.names());
    }],
    ["getSession -> null after signOut", async () => {
      await expectSignedOut(A, "after signOut");
    }],
  ];
}

function signInSteps(s, A, B) {
  return [
    ["signIn.email wrong password -> 401 INVALID_EMAIL_OR_PASSWORD", async () => {
      const r = await signIn(A, s.rawEmail, `${s.password}-wrong`);
      expectError(r, "signIn wrong password", 401, "INVALID_EMAIL_OR_PASSWORD");
      check(!A.jar.hasSessionCookie(), "signIn wrong password: a session cookie was set", A.jar.names());
    }],
    ["signIn.email right password", async () => {
      s.token = await expectSignInOk(A, s, s.password, "signIn");
      const { session } = await expectSignedIn(A, s, "signIn");
      check(session.token === s.token, "signIn: getSession token should be the sign-in token", session);
    }],
    ["listAccounts shows the credential account", async () => {
      const data = expectData(await A.client.listAccounts(), "listAccounts");
      check(Array.isArray(data) && data.length === 1, "listAccounts: expected one account", data);
      const [account] = data;
      check(account.providerId === "credential", "listAccounts: providerId should be credential", account);
      check(account.accountId === s.userId && account.userId === s.userId,
        "listAccounts: accountId and userId should be the user id", account);
      check(Array.isArray(account.scopes) && account.scopes.length === 0, "listAccounts: scopes", account);
      check(!("password" in account) && !("accessToken" in account), "listAccounts: secrets leaked", account);
      expectDate(account.createdAt, "listAccounts: createdAt");
    }],
    ["listSessions contains the current session", async () => {
      const tokens = await sessionTokens(A, "listSessions");
      expectSameSet(tokens, [s.token], "listSessions");
    }],
    ["signIn.email again on a second device (second session)", async () => {
      s.tokenB = await expectSignInOk(B, s, s.password, "second signIn");
      check(s.tokenB !== s.token, "second signIn: expected a new session token", s.tokenB);
      expectSameSet(await sessionTokens(A, "second signIn"), [s.token, s.tokenB], "second signIn");
    }],
  ];
}

function revokeSteps(s, A, B) {
  return [
    ["revokeSession(other session's token)", async () => {
      expectStatusTrue(await A.client.revokeSession({ token: s.tokenB }), "revokeSession");
      check(A.jar.hasSessionCookie(), "revokeSession: current session cookie was cleared", A.jar.names());
    }],
    ["listSessions shows the revoked session gone", async () => {
      expectSameSet(await sessionTokens(A, "after revokeSession"), [s.token], "after revokeSession");
      await expectSignedOut(B, "revoked device");
      await expectSignedIn(A, s, "current device after revokeSession");
    }],
    ["revokeOtherSessions", async () => {
      s.tokenB = await expectSignInOk(B, s, s.password, "revokeOtherSessions: device B signIn");
      expectSameSet(await sessionTokens(A, "before revokeOtherSessions"), [s.token, s.tokenB],
        "before revokeOtherSessions");
      expectStatusTrue(await A.client.revokeOtherSessions(), "revokeOtherSessions");
      expectSameSet(await sessionTokens(A, "after revokeOtherSessions"), [s.token], "after revokeOtherSessions");
      await expectSignedOut(B, "other device after revokeOtherSessions");
      await expectSignedIn(A, s, "current device after revokeOtherSessions");
    }],
  ];
}

function passwordSteps(s, A, B) {
  return [
    ["changePassword wrong current -> 400 INVALID_PASSWORD", async () => {
      const r = await A.client.changePassword({
        currentPassword: `${s.password}-wrong`, newPassword: s.newPassword,
      });
      expectError(r, "changePassword wrong current", 400, "INVALID_PASSWORD");
    }],
    ["changePassword right current", async () => {
      const data = expectData(await A.client.changePassword({
        currentPassword: s.password, newPassword: s.newPassword,
      }), "changePassword");
      check(data && "token" in data && data.token === null,
        "changePassword: expected token:null (revokeOtherSessions not asked)", data);
      expectUser(data.user, s.email, "changePassword");
      await expectSignedIn(A, s, "after changePassword");
    }],
    ["signIn with new password works, old fails", async () => {
      s.tokenB = await expectSignInOk(B, s, s.newPassword, "signIn new password");
      const r = await signIn(B, s.rawEmail, s.password);
      expectError(r, "signIn old password", 401, "INVALID_EMAIL_OR_PASSWORD");
    }],
  ];
}

function profileSteps(s, A) {
  const newName = `${s.name} renamed`;
  const image = "https://example.com/avatar.png";
  return [
    ["updateUser({name}) -> {status:true}, getSession shows it", async () => {
      expectStatusTrue(await A.client.updateUser({ name: newName }), "updateUser name");
      const { user } = await expectSignedIn(A, s, "after updateUser name");
      check(user.name === newName, `after updateUser: user.name should be ${show(newName)}`, user);
    }],
    ["updateUser({image}) then updateUser({image:null})", async () => {
      expectStatusTrue(await A.client.updateUser({ image }), "updateUser image");
      let { user } = await expectSignedIn(A, s, "after updateUser image");
      check(user.image === image, "after updateUser image: user.image", user);
      expectStatusTrue(await A.client.updateUser({ image: null }), "updateUser image null");
      ({ user } = await expectSignedIn(A, s, "after updateUser image null"));
      check(user.image === null, "after updateUser image null: user.image should be null", user);
      check(user.name === newName, "after updateUser image null: name should be unchanged", user);
    }],
  ];
}

function teardownSteps(s, A, B, C) {
  return [
    ["revokeSessions", async () => {
      expectStatusTrue(await A.client.revokeSessions(), "revokeSessions");
      check(!A.jar.hasSessionCookie(), "revokeSessions: session cookie was not cleared", A.jar.names());
    }],
    ["getSession -> null after revokeSessions (both devices)", async () => {
      await expectSignedOut(A, "after revokeSessions");
      await expectSignedOut(B, "other device after revokeSessions");
    }],
    ["signUp same email again -> 422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", async () => {
      const r = await C.client.signUp.email({ email: s.rawEmail, password: s.password, name: s.name });
      expectError(r, "signUp duplicate", 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
      check(!C.jar.hasSessionCookie(), "signUp duplicate: a session cookie was set", C.jar.names());
    }],
  ];
}

function socialSteps(provider, D) {
  const social = { userId: null };
  return [
    ["signIn.social returns the provider's authorize URL", async () => {
      const data = expectData(await D.client.signIn.social({
        provider, callbackURL: "/after-social", disableRedirect: true,
      }), "signIn.social");
      check(data && typeof data.url === "string" && data.redirect === false,
        "signIn.social: expected {url, redirect:false}", data);
      const url = new URL(data.url);
      for (const key of ["state", "code_challenge", "client_id", "redirect_uri"]) {
        check(url.searchParams.get(key), `signIn.social: authorize URL lacks ${key}`, data.url);
      }
      check(url.searchParams.get("code_challenge_method") === "S256", "signIn.social: PKCE S256", data.url);
      check(D.jar.names().some((n) => n.endsWith("better-auth.state")), "signIn.social: no state cookie", D.jar.names());
      social.url = data.url;
    }],
    ["provider redirect -> callback -> signed in", async () => {
      const approved = await fetch(social.url, { redirect: "manual" });
      check(approved.status === 302, "provider: expected a 302 to the callback", approved.status);
      const callback = await fetch(approved.headers.get("location"), {
        redirect: "manual", headers: { cookie: D.jar.cookieHeader() },
      });
      D.jar.storeFrom(callback);
      check(callback.status === 302 && callback.headers.get("location") === "/after-social",
        "callback: expected a 302 to the callbackURL", { status: callback.status, location: callback.headers.get("location") });
      check(D.jar.hasSessionCookie(), "callback: no session cookie", D.jar.names());
      const data = expectData(await D.client.getSession(), "getSession after social sign-in");
      check(data && data.user && data.session, "getSession after social sign-in: no session", data);
      social.userId = data.user.id;
    }],
    ["listAccounts shows the social account", async () => {
      const data = expectData(await D.client.listAccounts(), "listAccounts (social)");
      check(Array.isArray(data) && data.length === 1, "listAccounts (social): expected one account", data);
      const [account] = data;
      check(account.providerId === provider && account.userId === social.userId,
        "listAccounts (social): providerId/userId", account);
      check(Array.isArray(account.scopes) && account.scopes.includes("openid"), "listAccounts (social): scopes", account);
    }],
  ];
}

// ---------------------------------------------------------------------------
// E-mail steps (password reset, e-mail verification), run when MAIL_LOG names the log
// file of a server with MAIL_TRANSPORT=log: that transport prints every message with its
// link, and the steps take the links from there.
// ---------------------------------------------------------------------------
const MAIL_MARK = "mail (MAIL_TRANSPORT=log";
const MAIL_WAIT_MS = 10_000;

function mailedLinks(logPath, kind, email) {
  return readFileSync(logPath, "utf8").split(MAIL_MARK).slice(1).flatMap((chunk) => {
    const head = /kind=(\S+) to=(\S+)/.exec(chunk);
    const link = /\nlink: (\S+)/.exec(chunk);
    return head && link && head[1] === kind && head[2] === email ? [link[1]] : [];
  });
}

// Runs `action`, then waits for one more `kind` message to `email` and returns its link.
async function mailedLinkAfter(logPath, kind, email, action) {
  const before = mailedLinks(logPath, kind, email).length;
  await action();
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    const links = mailedLinks(logPath, kind, email);
    if (links.length > before) return new URL(links.at(-1));
    check(Date.now() < deadline, `no ${kind} mail to ${email} in the server log`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function mailSteps(s, A, logPath) {
  const resetPassword = `rp-${randomBytes(9).toString("base64url")}`;
  return [
    ["requestPasswordReset -> same 200 message, reset link mailed", async () => {
      const link = await mailedLinkAfter(logPath, "reset-password", s.email, async () => {
        const data = expectData(
          await A.client.requestPasswordReset({ email: s.rawEmail, redirectTo: "/reset" }),
          "requestPasswordReset");
        check(data && data.status === true && typeof data.message === "string",
          "requestPasswordReset: expected {status:true,message}", data);
      });
      check(link.pathname.startsWith("/api/auth/reset-password/"), "reset link path", link.href);
      check(link.searchParams.get("callbackURL") === "/reset", "reset link callbackURL", link.href);
      s.resetToken = link.pathname.split("/").at(-1);
    }],
    ["resetPassword with the mailed token; sign-in with the new password", async () => {
      expectStatusTrue(
        await A.client.resetPassword({ newPassword: resetPassword, token: s.resetToken }),
        "resetPassword");
      expectError(await signIn(A, s.rawEmail, s.newPassword), "signIn old password", 401,
        "INVALID_EMAIL_OR_PASSWORD");
      s.token = await expectSignInOk(A, s, resetPassword, "signIn after reset");
    }],
    ["resetPassword with the spent token -> 400 INVALID_TOKEN", async () => {
      const r = await A.client.resetPassword({ newPassword: `${resetPassword}-2`, token: s.resetToken });
      expectError(r, "resetPassword reused token", 400, "INVALID_TOKEN");
    }],
    ["sendVerificationEmail (signed in) -> verification link mailed", async () => {
      const link = await mailedLinkAfter(logPath, "verify-email", s.email, async () => {
        expectStatusTrue(
          await A.client.sendVerificationEmail({ email: s.email, callbackURL: "/verified" }),
          "sendVerificationEmail");
      });
      check(link.pathname === "/api/auth/verify-email", "verify link path", link.href);
      check(link.searchParams.get("callbackURL") === "/verified", "verify link callbackURL", link.href);
      s.verifyToken = link.searchParams.get("token");
    }],
    ["verifyEmail({query:{token}}) -> getSession shows emailVerified", async () => {
      const data = expectData(await A.client.verifyEmail({ query: { token: s.verifyToken } }), "verifyEmail");
      check(data && data.status === true && data.user === null,
        "verifyEmail: expected {status:true,user:null}", data);
      const session = expectData(await A.client.getSession(), "getSession after verifyEmail");
      check(session && session.user && session.user.emailVerified === true,
        "getSession after verifyEmail: user.emailVerified should be true", session);
      const again = await A.client.sendVerificationEmail({ email: s.email });
      expectError(again, "sendVerificationEmail when verified", 400, "EMAIL_ALREADY_VERIFIED");
    }],
  ];
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------
async function main() {
  const baseURL = process.argv[2];
  const socialProvider = process.argv[3];
  if (!baseURL || !/^https?:\/\//.test(baseURL)) {
    console.error("usage: node client_flow.mjs <baseURL> [socialProvider]   (e.g. http://127.0.0.1:3100)");
    process.exit(2);
  }

  const s = freshState();
  const [A, B, C, D] = ["A", "B", "C", "D"].map((label) => makeDevice(label, baseURL));
  const steps = [
    ...signUpSteps(s, A),
    ...signInSteps(s, A, B),
    ...revokeSteps(s, A, B),
    ...passwordSteps(s, A, B),
    ...profileSteps(s, A),
    ...teardownSteps(s, A, B, C),
    ...(socialProvider ? socialSteps(socialProvider, D) : []),
    ...(process.env.MAIL_LOG ? mailSteps(s, A, process.env.MAIL_LOG) : []),
  ];

  console.log(`client_flow: better-auth client against ${baseURL} as ${s.email}`);
  let passed = 0;
  for (const [name, fn] of steps) {
    try {
      await fn();
    } catch (err) {
      const detail = err instanceof StepFailure
        ? err.message
        : `unexpected exception: ${err?.stack ?? err}${err?.cause ? ` (cause: ${err.cause})` : ""}`;
      console.log(`FAIL ${name}: ${detail}`);
      if (trace.length) console.log(`last HTTP exchanges (device method path -> status):\n  ${trace.join("\n  ")}`);
      const skipped = steps.length - passed - 1;
      console.log(`client_flow: ${passed} passed, 1 failed, ${skipped} skipped`);
      process.exit(1);
    }
    console.log(`ok ${name}`);
    passed += 1;
  }
  console.log(`client_flow: ${passed} passed, 0 failed`);
  process.exit(0);
}

main();

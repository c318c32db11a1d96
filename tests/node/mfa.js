// kinvey-js-sdk 7 (API version 6) with multi-factor authentication: enrol a TOTP authenticator, log in
// with a code (one wrong code first: the SDK retries), with a trusted device (no code asked), with a
// recovery code; list and regenerate recovery codes; disable MFA. Env: KINBASE_URL, APP_KEY, APP_SECRET.
'use strict';
const crypto = require('crypto');
const Kinvey = require('kinvey-js-sdk');

const { KINBASE_URL, APP_KEY, APP_SECRET } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), `offset` steps from now: each code is accepted once.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) { bits += alphabet.indexOf(c).toString(2).padStart(5, '0'); }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) { bytes.push(parseInt(bits.slice(i, i + 8), 2)); }
  return Buffer.from(bytes);
}
function totp(secret, offset = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = crypto.createHmac('sha1', base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const httpAdapter = {
  async send({ url, method, headers, body, timeout }) {
    const target = new URL(url);
    const base = new URL(KINBASE_URL);
    target.protocol = base.protocol;
    target.host = base.host;
    const res = await fetch(target, { method, headers, body, signal: AbortSignal.timeout(timeout || 60000) });
    const text = await res.text();
    let data = text;
    try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { statusCode: res.status, headers: Object.fromEntries(res.headers), data };
  },
};
const memory = new Map();
const sessionStore = {
  get: async (key) => memory.get(key) || null,
  set: async (key, value) => { memory.set(key, value); return true; },
  remove: async (key) => memory.delete(key),
};
const storageAdapter = {
  find: async () => [], count: async () => 0, findById: async () => undefined, save: async (db, c, d) => d,
  removeById: async () => 0, removeManyById: async () => 0, clear: async () => 0, clearDatabase: async () => true,
};

async function main() {
  Kinvey.init({ kinveyConfig: { appKey: APP_KEY, appSecret: APP_SECRET }, httpAdapter, sessionStore, storageAdapter });
  const name = `mia-${Date.now().toString(36)}`;
  await Kinvey.User.signup({ username: name, password: 'pw-mia' });
  let user = await Kinvey.User.login(name, 'pw-mia');
  check('classic login without an authenticator', user && user._id && !(await user.isMFAEnabled()));

  let secret = null;
  const created = await user.createAuthenticator({ name: 'phone' }, async (authenticator) => {
    secret = authenticator.config.secret;
    return totp(secret);
  });
  check('authenticator created and verified', created.authenticator.type === 'totp' && secret, created.authenticator);
  const recovery = created.recoveryCodes;
  check('recovery codes issued', Array.isArray(recovery) && recovery.length === 10, recovery);
  check('MFA enabled', await user.isMFAEnabled());
  const listed = await user.listAuthenticators();
  check('authenticators listed', listed.length === 1 && listed[0].name === 'phone' && !listed[0].config, listed);
  await Kinvey.User.logout();

  let refusedLogin = null;
  try { await Kinvey.User.login(name, 'pw-mia'); } catch (err) { refusedLogin = err; }
  check('plain login refused for an MFA user', refusedLogin && /MFA/.test(refusedLogin.message), refusedLogin && refusedLogin.message);

  const attempts = [];
  user = await Kinvey.User.loginWithMFA(
    name,
    'pw-mia',
    async (authenticators) => authenticators[0].id,
    async (authenticatorId, context) => {
      attempts.push(context.error ? context.error.name : null);
      return { code: attempts.length === 1 ? '000000' : totp(secret, 1), trustDevice: true };
    },
  );
  check('login with a TOTP code (after one wrong code)', user && user._id && attempts.length === 2, attempts);
  const me = await user.me();
  check('the MFA session works', me._id === user._id);
  await Kinvey.User.logout();

  let asked = false;
  user = await Kinvey.User.loginWithMFA(name, 'pw-mia', async (a) => { asked = true; return a[0].id; }, async () => { asked = true; return { code: 'x' }; });
  check('a trusted device skips the challenge', user && user._id && !asked, asked);
  await Kinvey.User.logout();

  user = await Kinvey.User.loginWithRecoveryCode(name, 'pw-mia', recovery[0]);
  check('login with a recovery code', user && user._id);
  let reused = null;
  await Kinvey.User.logout();
  try { await Kinvey.User.loginWithRecoveryCode(name, 'pw-mia', recovery[0]); } catch (err) { reused = err; }
  check('a recovery code works once', reused && reused.name === 'InvalidCredentialsError', reused && reused.name);

  user = await Kinvey.User.loginWithRecoveryCode(name, 'pw-mia', recovery[1]);
  const fresh = await user.regenerateRecoveryCodes();
  check('recovery codes regenerated', fresh.length === 10 && !fresh.includes(recovery[2]), fresh);
  await user.disableMFA();
  check('MFA disabled', !(await user.isMFAEnabled()));
  await Kinvey.User.logout();
  user = await Kinvey.User.login(name, 'pw-mia');
  check('classic login again', user && user._id);
  await Kinvey.User.logout();
  check('done', true);
}

main().catch((err) => {
  console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) }));
  process.exit(1);
});

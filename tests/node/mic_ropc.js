// kinvey-js-sdk 7 logs in with Mobile Identity Connect using resource-owner credentials (the password
// grant at /v3/oauth/token) through the FlexAuth handlers of two auth services; a wrong password is
// refused; the session reads data under its ACLs; when its session is revoked, the SDK refreshes the
// MIC token (refresh_token grant at /oauth/token) and logs in again by itself.
// Env: KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET, MIC_IDS (comma list of micIds).
'use strict';
const Kinvey = require('kinvey-js-sdk');

const { KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET, MIC_IDS } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}
const master = 'Basic ' + Buffer.from(`${APP_KEY}:${MASTER_SECRET}`).toString('base64');
async function asMaster(method, path, body) {
  const res = await fetch(KINBASE_URL + path, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Kinvey-API-Version': '6', Authorization: master },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const tokenGrants = [];
const httpAdapter = {
  async send({ url, method, headers, body, timeout }) {
    const target = new URL(url);
    const base = new URL(KINBASE_URL);
    target.protocol = base.protocol;
    target.host = base.host;
    if (target.pathname.endsWith('/oauth/token')) { tokenGrants.push(new URLSearchParams(body).get('grant_type')); }
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
  for (const micId of MIC_IDS.split(',')) {
    let refused = null;
    try {
      await Kinvey.User.loginWithMICUsingResourceOwnerCredentials('flexuser', 'wrong', { micId });
    } catch (err) {
      refused = err;
    }
    check(`${micId}: wrong password refused`, refused && /Wrong username or password/.test(refused.message) && !(await Kinvey.User.getActiveUser()), refused && `${refused.name}: ${refused.message}`);

    let user = await Kinvey.User.loginWithMICUsingResourceOwnerCredentials('flexuser', 'flexpass', { micId });
    check(`${micId}: first login`, user && user._id, user && user.data);
    if (!(await Kinvey.User.getActiveUser())) {
      // The identity was new: kinvey-js-sdk 7 signed it up, and its signup never makes the user
      // active. The next login finds the linked user.
      const again = await Kinvey.User.loginWithMICUsingResourceOwnerCredentials('flexuser', 'flexpass', { micId });
      check(`${micId}: the signed-up user logs in`, again._id === user._id, [again._id, user._id]);
      user = again;
    }
    const active = await Kinvey.User.getActiveUser();
    check(`${micId}: logged in`, active && active._id === user._id && active.data._socialIdentity.kinveyAuth.refresh_token, active && active.data);

    const mine = await asMaster('POST', `/appdata/${APP_KEY}/vault`, { owner: micId, _acl: { gr: false, r: [user._id] } });
    const theirs = await asMaster('POST', `/appdata/${APP_KEY}/vault`, { owner: 'nobody', _acl: { gr: false } });
    check(`${micId}: seeded`, mine.status === 201 && theirs.status === 201, [mine.body, theirs.body]);
    const store = Kinvey.DataStore.collection('vault', Kinvey.DataStoreType.Network);
    const found = await store.find().toPromise();
    check(`${micId}: reads under its ACLs`, found.length === 1 && found[0]._id === mine.body._id, found);

    // The session is revoked behind the SDK's back: its next request refreshes the MIC token.
    const revoked = await asMaster('DELETE', `/user/${APP_KEY}/${user._id}/tokens`);
    check(`${micId}: sessions revoked`, revoked.status === 204, revoked.body);
    const before = tokenGrants.filter((g) => g === 'refresh_token').length;
    const again = await store.find().toPromise();
    const after = tokenGrants.filter((g) => g === 'refresh_token').length;
    const renewed = await Kinvey.User.getActiveUser();
    check(`${micId}: refreshed by itself`, again.length === 1 && after === before + 1 && renewed._id === user._id, { after, before });
    await Kinvey.User.logout();
  }
  check('done', true);
}

main().catch((err) => {
  console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) }));
  process.exit(1);
});

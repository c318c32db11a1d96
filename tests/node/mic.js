// kinvey-node-sdk 3.12.5 logs in with Mobile Identity Connect (loginWithMIC, AuthorizationCodeAPI:
// the SDK posts the username and password itself) through the FlexAuth handlers of two auth services.
// Env: KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET, REDIRECT_URI, MIC_IDS (comma list of micIds).
// Prints one JSON line per check; exit 1 on failure.
'use strict';
const Kinvey = require('kinvey-node-sdk');

const { KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET, REDIRECT_URI, MIC_IDS } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}
const master = 'Basic ' + Buffer.from(`${APP_KEY}:${MASTER_SECRET}`).toString('base64');
async function asMaster(method, path, body) {
  const res = await fetch(KINBASE_URL + path, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Kinvey-API-Version': '4', Authorization: master },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function main() {
  Kinvey.init({ appKey: APP_KEY, appSecret: APP_SECRET, apiHostname: KINBASE_URL, micHostname: KINBASE_URL });
  const grant = Kinvey.AuthorizationGrant.AuthorizationCodeAPI;
  for (const micId of MIC_IDS.split(',')) {
    let refused = null;
    try {
      await Kinvey.User.loginWithMIC(REDIRECT_URI, grant, { micId, username: 'flexuser', password: 'wrong' });
    } catch (err) {
      refused = err;
    }
    check(`${micId}: wrong password refused`, refused && Kinvey.User.getActiveUser() === null, refused && String(refused));

    const user = await Kinvey.User.loginWithMIC(REDIRECT_URI, grant, { micId, username: 'flexuser', password: 'flexpass' });
    const identity = user.data._socialIdentity && user.data._socialIdentity.kinveyAuth;
    check(`${micId}: logged in`, Kinvey.User.getActiveUser() && identity && identity.access_token && identity.client_id === `${APP_KEY}.${micId}`, user.data);
    const me = await Kinvey.User.getActiveUser().me();
    check(`${micId}: me`, me._id === user._id, me.data);

    // Data under the user's ACLs: one entity it may read, one it may not.
    const mine = await asMaster('POST', `/appdata/${APP_KEY}/secrets`, { owner: micId, _acl: { gr: false, r: [user._id] } });
    const theirs = await asMaster('POST', `/appdata/${APP_KEY}/secrets`, { owner: 'nobody', _acl: { gr: false } });
    check(`${micId}: seeded`, mine.status === 201 && theirs.status === 201, [mine.body, theirs.body]);
    const store = Kinvey.DataStore.collection('secrets', Kinvey.DataStoreType.Network);
    const found = await store.find().toPromise();
    check(`${micId}: reads under its ACLs`, found.length === 1 && found[0]._id === mine.body._id, found);
    let denied = null;
    try { await store.findById(theirs.body._id).toPromise(); } catch (err) { denied = err; }
    check(`${micId}: another's entity refused`, denied !== null, denied && denied.name);

    await Kinvey.User.logout();
    // A second login finds the same linked user.
    const again = await Kinvey.User.loginWithMIC(REDIRECT_URI, grant, { micId, username: 'flexuser', password: 'flexpass' });
    check(`${micId}: the same user again`, again._id === user._id, [again._id, user._id]);
    await Kinvey.User.logout();
  }
  check('done', true);
}

main().catch((err) => {
  console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) }));
  process.exit(1);
});

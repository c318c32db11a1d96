// Drives kinbase's Flex business logic with the official kinvey-node-sdk 3.12.5: a custom endpoint,
// a collection backed by a Flex service object (save, query, get, count, a 404), and a collection
// with a pre-save hook. The app's configuration (tests/core/flex/test_sdk_flex.py) binds
// `checkout` to the test service's `echo`, `things` to its `things` service object, and the
// pre_save hook of `notes` to its `preSave`.
// Env: KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET. Prints one JSON line per check; exit 1 on failure.
'use strict';
const Kinvey = require('kinvey-node-sdk');

const { KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}
const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

async function main() {
  Kinvey.init({ appKey: APP_KEY, appSecret: APP_SECRET, apiHostname: KINBASE_URL, micHostname: KINBASE_URL });
  // The test service keeps its rows between runs: start from an empty service object.
  const emptied = await fetch(`${KINBASE_URL}/appdata/${APP_KEY}/things`, {
    method: 'DELETE', headers: { Authorization: basic(APP_KEY, MASTER_SECRET) },
  });
  check('empty the service object', emptied.status === 200, emptied.status);

  const suffix = Date.now().toString(36);
  const user = await Kinvey.User.signup({ username: `flex-${suffix}`, password: 'pw' });
  check('signup', user && user._id, user && user.data);

  // A custom endpoint: the function sees the caller (user id and name, its credentials).
  const echoed = await Kinvey.CustomEndpoint.execute('checkout', { cart: [1, 2] });
  check('custom endpoint', echoed.hookType === 'customEndpoint' && echoed.objectName === 'checkout'
    && JSON.stringify(echoed.body) === '{"cart":[1,2]}', echoed);
  check('custom endpoint sees the user', echoed.userId === user._id && echoed.username === `flex-${suffix}`
    && echoed.securityContext === 'user', echoed);

  // A collection backed by a Flex service object.
  const things = Kinvey.DataStore.collection('things', Kinvey.DataStoreType.Network);
  const blue = await things.save({ color: 'blue' });
  const red = await things.save({ color: 'red' });
  await things.save({ color: 'blue' });
  check('save into the service object', blue._id && red._id && blue.color === 'blue', [blue, red]);
  const updated = await things.save({ ...blue, size: 2 });
  check('update (PUT)', updated._id === blue._id && updated.size === 2, updated);
  const all = await things.find().toPromise();
  check('find all', all.length === 3, all);
  const found = await things.find(new Kinvey.Query().equalTo('color', 'blue')).toPromise();
  check('find with a query', found.length === 2 && found.every((t) => t.color === 'blue'), found);
  const byId = await things.findById(red._id).toPromise();
  check('findById', byId._id === red._id && byId.color === 'red', byId);
  check('count', (await things.count().toPromise()) === 3);
  let missing = null;
  try { await things.findById('no-such-thing').toPromise(); } catch (e) { missing = e.name; }
  check('the service\'s 404 is the SDK\'s NotFoundError', missing === 'NotFoundError', missing);
  const removed = await things.removeById(red._id);
  check('removeById', removed.count === 1, removed);

  // A collection with a pre-save hook: the hook's body is what is saved.
  const notes = Kinvey.DataStore.collection('notes', Kinvey.DataStoreType.Network);
  const note = await notes.save({ text: 'hello' });
  check('pre-save hook changes the saved entity', note.stamped === true && note.text === 'hello', note);
  const again = await notes.findById(note._id).toPromise();
  check('the hook\'s body was stored', again.stamped === true && again._acl.creator === user._id, again);
  check('still logged in', Kinvey.User.getActiveUser() !== null);
  await Kinvey.User.logout();
  check('done', true);
}

main().then(
  () => process.exit(0),
  (err) => { console.log(JSON.stringify({ name: 'error', ok: false, detail: `${err && err.name}: ${err && err.message} ${err && err.debug} ${err && err.stack}` })); process.exit(1); },
);

// Drives kinbase with the official kinvey-node-sdk 3.12.5 (API version 4).
// Env: KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET. Prints one JSON line per check; exit 1 on failure.
'use strict';
const Kinvey = require('kinvey-node-sdk');
const http = require('http');

// Every request path the SDK sends (to check that the Sync pull really asks for a delta set).
const sentPaths = [];
const httpRequest = http.request;
http.request = function request(options, ...rest) {
  sentPaths.push(typeof options === 'string' ? options : options.path || (options.href || ''));
  return httpRequest.call(this, options, ...rest);
};

const { KINBASE_URL, APP_KEY, APP_SECRET, MASTER_SECRET } = process.env;
const results = [];
function check(name, ok, detail) {
  results.push({ name, ok: !!ok, detail });
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}

async function raw(method, path, { auth, body, version = '5', headers = {} } = {}) {
  const res = await fetch(KINBASE_URL + path, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Kinvey-API-Version': version, Authorization: auth, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
const master = basic(APP_KEY, MASTER_SECRET);

async function main() {
  Kinvey.init({ appKey: APP_KEY, appSecret: APP_SECRET, apiHostname: KINBASE_URL, micHostname: KINBASE_URL });

  const pong = await Kinvey.ping();
  check('ping', pong.kinvey && pong.kinvey.startsWith('hello'), pong);

  // Delta set on for the sync collection (master-secret configuration API).
  let r = await raw('PUT', `/appdata/${APP_KEY}/tasks/_settings`, { auth: master, body: { deltaSet: { enabled: true } } });
  check('configure delta set', r.status === 200, r.body);

  // Users: sign-up, login, me, logout.
  const suffix = Date.now().toString(36);
  const alice = await Kinvey.User.signup({ username: `alice-${suffix}`, password: 'pw-a', email: 'a@example.com' });
  check('signup logs in (API v4)', alice && alice._id && Kinvey.User.getActiveUser() !== null, alice && alice.data);
  const me = await Kinvey.User.getActiveUser().me();
  check('me', me.data.username === `alice-${suffix}`, me.data);
  await Kinvey.User.logout();
  check('logout', Kinvey.User.getActiveUser() === null);
  const exists = await Kinvey.User.exists(`alice-${suffix}`);
  check('exists', exists === true, exists);
  await Kinvey.User.login(`alice-${suffix}`, 'pw-a');
  check('login', Kinvey.User.getActiveUser().data.username === `alice-${suffix}`);
  const aliceId = Kinvey.User.getActiveUser()._id;

  // Data: save, find with a query, count, group, remove.
  const books = Kinvey.DataStore.collection('books', Kinvey.DataStoreType.Network);
  const saved = [];
  for (const [title, year, author] of [['Dune', 1965, 'Herbert'], ['Emma', 1815, 'Austen'], ['Persuasion', 1817, 'Austen']]) {
    saved.push(await books.save({ title, year, author }));
  }
  check('save', saved.every((b) => b._id && b._acl.creator === aliceId && b._kmd.lmt), saved);
  const byId = await books.findById(saved[0]._id).toPromise();
  check('findById', byId.title === 'Dune', byId);
  const updated = await books.save({ ...byId, pages: 412 });
  check('update with PUT', updated.pages === 412 && updated._id === byId._id, updated);
  const all = await books.find().toPromise();
  check('find all', all.length === 3, all.length);
  const q = new Kinvey.Query();
  q.equalTo('author', 'Austen').ascending('year');
  let filtered = null;
  let queryError = null;
  try { filtered = await books.find(q).toPromise(); } catch (e) { queryError = `${e.name}: ${e.message}`; }
  check('find with a query', queryError === null ? filtered.length === 2 && filtered[0].title === 'Emma' : process.env.QUERY_ENGINE !== '1' && queryError.startsWith('FeatureUnavailableError'), queryError || filtered);
  const count = await books.count().toPromise();
  check('count', count === 3, count);
  const agg = Kinvey.Aggregation.count('author');
  const groups = await books.group(agg).toPromise();
  const byAuthor = Object.fromEntries(groups.map((g) => [g.author, g.count]));
  check('group count', byAuthor.Austen === 2 && byAuthor.Herbert === 1, groups);
  const sum = await books.group(Kinvey.Aggregation.sum('year')).toPromise();
  check('group sum', sum[0].sum === 1965 + 1815 + 1817, sum);
  const removed = await books.removeById(saved[0]._id);
  check('removeById', removed.count === 1, removed);
  check('count after remove', (await books.count().toPromise()) === 2);

  // A second user sees only what the ACLs allow.
  await Kinvey.User.logout();
  const bob = await Kinvey.User.signup({ username: `bob-${suffix}`, password: 'pw-b' });
  const notes = Kinvey.DataStore.collection('notes', Kinvey.DataStoreType.Network);
  const privateNote = await notes.save({ text: 'bob only', _acl: { gr: false } });
  const publicNote = await notes.save({ text: 'for all' });
  await Kinvey.User.logout();
  await Kinvey.User.login(`alice-${suffix}`, 'pw-a');
  const seen = await notes.find().toPromise();
  check('acl: list shows only readable', seen.length === 1 && seen[0]._id === publicNote._id, seen);
  let denied = null;
  try { await notes.findById(privateNote._id).toPromise(); } catch (e) { denied = e.name; }
  check('acl: get of a private entity is refused', denied === 'InsufficientCredentialsError', denied);
  check('acl: still logged in after a refusal', Kinvey.User.getActiveUser() !== null);
  let denied2 = null;
  try { await notes.save({ ...publicNote, text: 'changed by alice' }); } catch (e) { denied2 = e.name; }
  check('acl: update of another user entity is refused', denied2 === 'InsufficientCredentialsError', denied2);
  check('acl: count', (await notes.count().toPromise()) === 1);

  // Sync store: push local changes, pull with delta set after another client changed things.
  const tasks = Kinvey.DataStore.collection('tasks', Kinvey.DataStoreType.Sync, { useDeltaSet: true });
  await tasks.save({ title: 'one', done: false });
  await tasks.save({ title: 'two', done: false });
  const pushed = await tasks.push();
  check('sync push', pushed.length === 2 && pushed.every((p) => !p.error), pushed);
  const firstPull = await tasks.pull();
  check('sync pull', firstPull === 2 || (firstPull && firstPull.length === 2), firstPull);
  const server = (await raw('GET', `/appdata/${APP_KEY}/tasks`, { auth: master })).body;
  const one = server.find((t) => t.title === 'one');
  const two = server.find((t) => t.title === 'two');
  r = await raw('PUT', `/appdata/${APP_KEY}/tasks/${one._id}`, { auth: master, body: { ...one, done: true } });
  check('other client updates', r.status === 200, r.body);
  r = await raw('DELETE', `/appdata/${APP_KEY}/tasks/${two._id}`, { auth: master });
  check('other client deletes', r.status === 200, r.body);
  r = await raw('POST', `/appdata/${APP_KEY}/tasks`, { auth: master, body: { title: 'three', done: false } });
  check('other client creates', r.status === 201, r.body);
  const sentBefore = sentPaths.length;
  await tasks.pull();
  const local = await tasks.find().toPromise();
  const titles = local.map((t) => `${t.title}:${t.done}`).sort();
  check('delta pull applied changes and deletes', JSON.stringify(titles) === JSON.stringify(['one:true', 'three:false']), titles);
  const pullPaths = sentPaths.slice(sentBefore);
  check('the pull asked for a delta set', pullPaths.some((p) => p.includes('/tasks/_deltaset?') && p.includes('since=')), pullPaths);

  // Location query: Query.near(field, coord, miles).
  const places = Kinvey.DataStore.collection('places', Kinvey.DataStoreType.Network);
  for (const [name, loc] of [['main', [-71.083934, 42.362474]], ['broadway', [-71.085438, 42.362688]], ['atlantic', [-71.056416, 42.351018]]]) {
    await places.save({ name, _geoloc: loc });
  }
  const nearby = await places.find(new Kinvey.Query().near('_geoloc', [-71.0837, 42.3623], 1)).toPromise();
  check('near with a distance in miles', JSON.stringify(nearby.map((p) => p.name)) === JSON.stringify(['main', 'broadway']), nearby);

  // User lookup (POST /user/_lookup) with a query.
  const found = await Kinvey.User.lookup(new Kinvey.Query().equalTo('username', `bob-${suffix}`)).toPromise();
  check('user lookup', found.length === 1 && found[0].username === `bob-${suffix}`, found);

  // Multi-insert is API v5: raw HTTP (this SDK speaks v4).
  r = await raw('POST', `/appdata/${APP_KEY}/bulk`, { auth: master, body: [{ a: 1 }, { a: 2 }] });
  check('multi-insert v5', r.status === 201 && r.body.entities.length === 2, r.body);
  r = await raw('POST', `/appdata/${APP_KEY}/bulk`, { auth: master, body: [{ a: 1 }], version: '4' });
  check('multi-insert refused in v4', r.status === 400 && r.body.error === 'FeatureUnavailable', r.body);

  // Remove by query, then a bad token logs the user out.
  let byQuery = null;
  try { byQuery = await books.remove(new Kinvey.Query().equalTo('author', 'Austen')); } catch (e) { byQuery = `${e.name}: ${e.message}`; }
  check('remove with a query', (byQuery && byQuery.count === 2) || (process.env.QUERY_ENGINE !== '1' && String(byQuery).startsWith('FeatureUnavailableError')), byQuery);
  await Kinvey.User.logout();
  check('done', true, { bob: bob._id });
}

main().then(
  () => process.exit(0),
  (err) => { console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) })); process.exit(1); },
);

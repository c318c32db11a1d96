// Drives kinbase with the core kinvey-js-sdk 7 (API version 6), pointed at kinbase by an httpAdapter
// that rewrites https://*.kinvey.com to KINBASE_URL (the README shows the same few lines).
'use strict';
const Kinvey = require('kinvey-js-sdk');

const { KINBASE_URL, APP_KEY, APP_SECRET } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}

// --- the adapter: everything an app needs to reach a self-hosted kinbase -----------------------
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
// -------------------------------------------------------------------------------------------------

const memory = new Map();
const sessionStore = {
  get: async (key) => memory.get(key) || null,
  set: async (key, value) => { memory.set(key, value); return true; },
  remove: async (key) => memory.delete(key),
};

// The offline cache (unused by network stores, but the SDK clears it on login and logout).
const dbs = new Map();
const table = (db, coll) => {
  const key = `${db}/${coll}`;
  if (!dbs.has(key)) { dbs.set(key, new Map()); }
  return dbs.get(key);
};
const storageAdapter = {
  find: async (db, coll) => [...table(db, coll).values()],
  count: async (db, coll) => table(db, coll).size,
  findById: async (db, coll, id) => table(db, coll).get(id),
  save: async (db, coll, docs) => { for (const d of docs) { table(db, coll).set(d._id, d); } return docs; },
  removeById: async (db, coll, id) => (table(db, coll).delete(id) ? 1 : 0),
  removeManyById: async (db, coll, ids) => ids.filter((id) => table(db, coll).delete(id)).length,
  clear: async (db, coll) => { const n = table(db, coll).size; table(db, coll).clear(); return n; },
  clearDatabase: async () => { dbs.clear(); return true; },
};

async function main() {
  Kinvey.init({ kinveyConfig: { appKey: APP_KEY, appSecret: APP_SECRET }, httpAdapter, sessionStore, storageAdapter });
  const pong = await Kinvey.ping();
  check('ping', pong.kinvey && pong.kinvey.startsWith('hello'), pong);

  const name = `carol-${Date.now().toString(36)}`;
  const signed = await Kinvey.User.signup({ username: name, password: 'pw-c' });
  check('signup (v6: no session)', signed && signed._id, signed && signed.data);
  if (await Kinvey.User.getActiveUser()) { await Kinvey.User.logout(); }
  const user = await Kinvey.User.login(name, 'pw-c');
  check('login', user.data.username === name && user.authtoken, user.data);
  const me = await user.me();
  check('me', me.data._id === user._id, me.data);

  const store = Kinvey.DataStore.collection('modern', Kinvey.DataStoreType.Network);
  const saved = await store.save({ title: 'hello' });
  check('save', saved._id && saved._acl.creator === user._id, saved);
  const found = await store.findById(saved._id).toPromise();
  check('findById', found.title === 'hello', found);
  const count = await store.count().toPromise();
  check('count', count === 1, count);
  const removed = await store.removeById(saved._id);
  check('removeById', removed.count === 1, removed);

  // Multi-insert (API v6 >= 5), query with sort and limit, count and remove by query, group.
  const many = await store.create([{ title: 'a', n: 1 }, { title: 'b', n: 2 }, { title: 'b', n: 3 }]);
  const created = Array.isArray(many) ? many : many.entities;
  check('multi-insert', created.length === 3 && created.every((e) => e._id) && !(many.errors || []).length, many);
  const q = new Kinvey.Query().greaterThanOrEqualTo('n', 2).descending('n');
  const top = await store.find(q).toPromise();
  check('find with query and sort', JSON.stringify(top.map((e) => e.n)) === '[3,2]', top);
  const paged = new Kinvey.Query().ascending('n');
  paged.limit = 1;
  paged.skip = 1;
  const page = await store.find(paged).toPromise();
  check('find with limit and skip', page.length === 1 && page[0].n === 2, page);
  const counted = await store.count(new Kinvey.Query().equalTo('title', 'b')).toPromise();
  check('count with query', counted === 2, counted);
  const groups = await store.group(Kinvey.Aggregation.count('title')).toPromise();
  const byTitle = Object.fromEntries(groups.map((g) => [g.title, g.count]));
  check('group count', byTitle.a === 1 && byTitle.b === 2, groups);

  // Location: Query.near(field, coord, miles).
  for (const [where, loc] of [['main', [-71.083934, 42.362474]], ['atlantic', [-71.056416, 42.351018]]]) {
    await store.save({ where, _geoloc: loc });
  }
  const near = await store.find(new Kinvey.Query().near('_geoloc', [-71.0837, 42.3623], 1)).toPromise();
  check('near in miles', near.length === 1 && near[0].where === 'main', near);
  const wide = await store.find(new Kinvey.Query().near('_geoloc', [-71.0837, 42.3623], 2)).toPromise();
  check('near in miles, wider', JSON.stringify(wide.map((e) => e.where)) === '["main","atlantic"]', wide);

  const gone = await store.remove(new Kinvey.Query().equalTo('title', 'b'));
  check('remove by query', gone.count === 2, gone);
  check('count after remove', (await store.count().toPromise()) === 3);

  // Files (API v6: X-Kinvey-Content-Type mandatory; the resumable upload URL through the adapter).
  const text = 'kinbase file '.repeat(2000);
  const up = await Kinvey.Files.upload(Buffer.from(text), { filename: 'modern.txt', mimeType: 'text/plain', size: Buffer.byteLength(text) });
  check('files upload', up._id && up._filename === 'modern.txt', up);
  const down = await Kinvey.Files.download(up._id);
  check('files download', down === text, typeof down === 'string' ? down.length : down);
  const listed = await Kinvey.Files.find(new Kinvey.Query().equalTo('_filename', 'modern.txt'));
  check('files find', listed.length === 1 && listed[0]._downloadURL, listed);
  const rm = await Kinvey.Files.removeById(up._id);
  check('files removeById', rm.count === 1, rm);

  await Kinvey.User.logout();
  check('logout', (await Kinvey.User.getActiveUser()) === null);
}

main().then(
  () => process.exit(0),
  (err) => { console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) })); process.exit(1); },
);

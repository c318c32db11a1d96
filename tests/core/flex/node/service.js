// The Flex test service of tests/core/flex, written with the official kinvey-flex-sdk.
// services/flex_test_service.py is the same service written with kinbase-flex: the tests run
// each of their cases against both.
'use strict';

const sdk = require('kinvey-flex-sdk');

const port = parseInt(process.env.FLEX_PORT, 10);
const rows = new Map();
let next = 1;

function selected(query) {
  const conditions = JSON.parse((query && query.query) || '{}');
  let found = [...rows.values()].filter((r) => Object.keys(conditions).every((k) => r[k] === conditions[k]));
  const skip = parseInt((query && query.skip) || '0', 10);
  found = found.slice(skip);
  if (query && query.limit) found = found.slice(0, parseInt(query.limit, 10));
  return found;
}

function insert(entity) {
  const row = Object.assign({}, entity);
  if (!row._id) { row._id = `t${next}`; next += 1; }
  rows.set(row._id, row);
  return row;
}

sdk.service({ sharedSecret: process.env.FLEX_SHARED_SECRET, host: '127.0.0.1', port }, (err, flex) => {
  if (err) { console.error(err); process.exit(1); }

  const things = flex.data.serviceObject('things');
  things.onGetAll((context, complete) => complete([...rows.values()]).ok().next());
  things.onGetByQuery((context, complete) => complete(selected(context.query)).ok().next());
  things.onGetById((context, complete) => {
    const row = rows.get(context.entityId);
    if (!row) return complete(`No thing ${context.entityId}`).notFound().done();
    return complete(row).ok().next();
  });
  things.onGetCount((context, complete) => complete({ count: rows.size }).ok().next());
  things.onGetCountByQuery((context, complete) => complete({ count: selected(context.query).length }).ok().next());
  things.onInsert((context, complete) => complete(insert(context.body)).created().next());
  things.onInsertMany((context, complete) => complete({ entities: context.body.map(insert), errors: [] }).created().next());
  things.onUpdate((context, complete) => {
    if (!rows.has(context.entityId)) return complete(`No thing ${context.entityId}`).notFound().done();
    const row = Object.assign({}, context.body, { _id: context.entityId });
    rows.set(row._id, row);
    return complete(row).ok().next();
  });
  things.onDeleteById((context, complete) => complete({ count: rows.delete(context.entityId) ? 1 : 0 }).ok().next());
  things.onDeleteByQuery((context, complete) => {
    const doomed = selected(context.query);
    doomed.forEach((r) => rows.delete(r._id));
    complete({ count: doomed.length }).ok().next();
  });
  things.onDeleteAll((context, complete) => {
    const count = rows.size;
    rows.clear();
    complete({ count }).ok().next();
  });

  const fns = flex.functions;
  fns.register('echo', (context, complete, modules) => {
    complete({
      method: context.method,
      hookType: context.hookType,
      objectName: context.objectName,
      entityId: context.entityId === undefined ? null : context.entityId,
      body: context.body,
      query: context.query === undefined ? null : context.query,
      username: context.username,
      userId: context.userId,
      headers: context.headers,
      appKey: modules.backendContext.getAppKey(),
      appSecret: modules.backendContext.getAppSecret(),
      masterSecret: modules.backendContext.getMasterSecret(),
      securityContext: modules.requestContext.getSecurityContext(),
    }).ok().done();
  });
  fns.register('preSave', (context, complete) => {
    const body = Object.assign({}, context.body, { stamped: true });
    complete().setBody(body).setQuery({ query: { stamped: true } }).ok().next();
  });
  fns.register('reject', (context, complete) => complete().forbidden('not today').done());
  fns.register('postShape', (context, complete) => {
    const items = context.body;
    complete({ wrapped: items, count: Array.isArray(items) ? items.length : 1 }).ok().next();
  });
  fns.register('temp', (context, complete, modules) => {
    const store = modules.tempObjectStore;
    store.set('n', (store.get('n') || 0) + 1);
    complete(store.getAll()).ok().next();
  });
  fns.register('slow', (context, complete) => {
    setTimeout(() => complete({ slept: context.body.ms }).ok().done(), context.body.ms);
  });
  fns.register('callback', (context, complete, modules) => {
    modules.dataStore().collection('things').find((error, found) => {
      if (error) return complete({ error: error.message, debug: error.debug }).runtimeError().done();
      return complete({ found }).ok().done();
    });
  });

  const tally = [];
  fns.register('tally', (context, complete) => { tally.push(Date.now() / 1000); complete({ calls: tally.length }).ok().done(); });
  fns.register('tallies', (context, complete) => complete({ calls: tally }).ok().done());
  fns.register('fail', (context, complete) => complete().badRequest('scheduled failure').done());

  // -- the modules' calls back into kinbase (tests/core/flex/test_callbacks.py) --------------
  const failure = (err) => ({ error: err.message, debug: err.debug === undefined ? null : err.debug });

  fns.register('cbData', async (context, complete, modules) => {
    const { collection, private: priv } = context.body;
    try {
      const plain = modules.dataStore().collection(collection);
      const saved = await plain.save({ _id: 'plain', n: 1 });
      const hooked = await modules.dataStore({ useBl: true }).collection(collection).save({ _id: 'hooked', n: 2 });
      const asUser = await modules.dataStore({ useUserContext: true }).collection(collection).save({ _id: 'user', n: 3 });
      const found = await plain.find(new modules.Query().equalTo('n', 1));
      const count = await plain.count();
      const mine = await modules.dataStore({ useUserContext: true }).collection(priv).find();
      const all = await modules.dataStore().collection(priv).find();
      complete({ saved, hooked, asUser, found, count, mine, all }).ok().done();
    } catch (err) {
      complete(failure(err)).ok().done();
    }
  });

  fns.register('cbStores', async (context, complete, modules) => {
    const { userId } = context.body;
    try {
      const user = await modules.userStore().findById(userId);
      const users = await modules.userStore().count();
      const group = await modules.groupStore().create({ _id: 'crew', name: 'Crew' });
      const fetched = await modules.groupStore().findById('crew');
      const role = await modules.roleStore().create({ name: 'editors' });
      await modules.userStore().assignRole(userId, role._id);
      const members = await modules.roleStore().listMembers(role._id);
      complete({
        username: user.username, users, group: group._id, fetched: fetched.name, role: role.name, members,
      }).ok().done();
    } catch (err) {
      complete(failure(err)).ok().done();
    }
  });

  fns.register('hop', async (context, complete, modules) => {
    const path = (context.body && context.body.path) || [];
    if (path.length === 0) return complete({ via: context.objectName, end: true }).ok().done();
    try {
      const result = await modules.endpointRunner().endpoint(path[0]).execute({ path: path.slice(1) });
      return complete({ via: context.objectName, result }).ok().done();
    } catch (err) {
      return complete(Object.assign({ via: context.objectName }, failure(err))).ok().done();
    }
  });

  fns.register('cbEmail', async (context, complete, modules) => {
    const b = context.body;
    try {
      const sent = await modules.email.send(b.from, b.to, b.subject, b.text, b.replyTo, b.html);
      complete({ sent }).ok().done();
    } catch (err) {
      complete(failure(err)).ok().done();
    }
  });

  fns.register('cbPush', async (context, complete, modules) => {
    try {
      const report = await modules.push.sendMessage({ _id: context.body.userId }, context.body.message);
      complete({ report }).ok().done();
    } catch (err) {
      complete(failure(err)).ok().done();
    }
  });

  fns.register('bounce', async (context, complete, modules) => {
    const other = context.objectName === 'loopA' ? 'loopB' : 'loopA';
    const body = Object.assign({}, context.body);
    try {
      const saved = await modules.dataStore({ useBl: true }).collection(other).save({ from: context.objectName });
      body.saved = saved._id;
    } catch (err) {
      body.refused = failure(err);
    }
    complete().setBody(body).ok().next();
  });

  fns.register('stamp', (context, complete) => {
    complete().setBody(Object.assign({}, context.body, { stampedBy: context.objectName })).ok().next();
  });

  flex.auth.register('login', (context, complete) => {
    const { username, password } = context.body;
    if (username !== 'flexuser' || password !== 'flexpass') {
      return complete().accessDenied('Wrong username or password').next();
    }
    return complete().setToken({ access_token: `tok-${username}` }).addAttribute('email', `${username}@example.test`).ok().next();
  });
});

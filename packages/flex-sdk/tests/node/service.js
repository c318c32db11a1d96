// The twin service, written with the official kinvey-flex-sdk. tests/twin_service.py (with
// tests/twin_modules.py) is the same service written with kinbase-flex; tests/test_flex_node_parity.py
// sends both the same requests.
'use strict';

const sdk = require('kinvey-flex-sdk');

const port = parseInt(process.env.FLEX_PORT, 10);

function errorInfo(err) {
  return err ? { error: err.message, description: err.description, debug: err.debug } : null;
}

sdk.service({ sharedSecret: process.env.FLEX_SHARED_SECRET, host: '127.0.0.1', port }, (err, flex) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }

  // -- FlexData ---------------------------------------------------------------------------
  const widgets = flex.data.serviceObject('widgets');
  const echo = (event, status) => (context, complete) => complete().setBody({ event, context })[status]().next();
  widgets.onInsert((context, complete) => complete().setBody({ event: 'onInsert', context }).created().done());
  widgets.onInsertMany(echo('onInsertMany', 'created'));
  widgets.onUpdate(echo('onUpdate', 'ok'));
  widgets.onDeleteById(echo('onDeleteById', 'accepted'));
  widgets.onDeleteByQuery((context, complete) => complete({ count: 2, context }).ok().next());
  widgets.onDeleteAll((context, complete) => complete({ count: 5 }).ok().done());
  widgets.onGetAll(echo('onGetAll', 'ok'));
  widgets.onGetByQuery(echo('onGetByQuery', 'ok'));
  widgets.onGetCount((context, complete) => complete({ count: 3 }).ok().next());
  widgets.onGetCountByQuery((context, complete) => complete({ count: 1, query: context.query }).ok().next());
  widgets.onGetById((context, complete) => {
    switch (context.entityId) {
      case 'missing': return complete().setBody('Entity missing').notFound().next();
      case 'bad': return complete().badRequest('bad id').done();
      case 'unauth': return complete().unauthorized().done();
      case 'forbidden': return complete().forbidden({ reason: 'nope' }).done();
      case 'notallowed': return complete('not here').notAllowed().done();
      case 'notimpl': return complete().notImplemented('later').done();
      case 'runtime': return complete().setBody(new Error('boom')).runtimeError().done();
      case 'text': return complete().setBody('plain text').ok().done();
      case 'numstr': return complete().setBody('123').ok().done();
      case 'jsonstr': return complete().setBody('{"a":[1,2]}').ok().done();
      case 'empty': return complete().ok().done();
      case 'zero': return complete(0).ok().done();
      case 'list': return complete([]).ok().done();
      case 'twice': complete({ first: true }).ok().done(); return complete({ second: true }).ok().done();
      default: return complete().setBody({ event: 'onGetById', context }).ok().next();
    }
  });
  flex.data.serviceObject('sprockets');

  // -- FlexFunctions ----------------------------------------------------------------------
  const fns = flex.functions;
  fns.register('echo', (context, complete) => complete().setBody({ context }).ok().done());
  fns.register('stampPreSave', (context, complete) => {
    const body = context.body;
    body.stampedBy = 'flex';
    complete().setBody(body).setQuery({ query: { stamped: true }, sort: { name: 1 }, limit: '5' }).ok().next();
  });
  fns.register('postCount', (context, complete) => {
    const items = context.body;
    complete().setBody({ items, count: Array.isArray(items) ? items.length : 0 }).ok().next();
  });
  fns.register('status', (context, complete) => {
    const b = context.body;
    complete().setBody(b.message)[b.status](b.debug)[b.end || 'done']();
  });
  fns.register('nextOnly', (context, complete) => complete().next());
  fns.register('tempStore', (context, complete, modules) => {
    modules.tempObjectStore.set('seen', modules.tempObjectStore.get('count') + 1);
    complete().setBody(modules.tempObjectStore.getAll()).ok().next();
  });
  fns.register('moduleInfo', (context, complete, modules) => {
    const rc = modules.requestContext;
    const v = rc.clientAppVersion;
    complete().setBody({
      appKey: modules.backendContext.getAppKey(),
      appSecret: modules.backendContext.getAppSecret(),
      masterSecret: modules.backendContext.getMasterSecret(),
      username: rc.getAuthenticatedUsername(),
      userId: rc.getAuthenticatedUserId(),
      securityContext: rc.getSecurityContext(),
      office: rc.getCustomRequestProperty('officeLocation'),
      absent: rc.getCustomRequestProperty('absent') === undefined,
      version: [v.stringValue(), v.majorVersion(), v.minorVersion(), v.patchVersion()]
    }).ok().done();
  });
  fns.register('queryOps', (context, complete, modules) => {
    const q = new modules.Query();
    q.equalTo('name', 'x').notEqualTo('a', 1).greaterThan('b', 2).greaterThanOrEqualTo('c', 3)
      .lessThan('d', 4).lessThanOrEqualTo('e', 5).exists('f').exists('g', false).mod('h', 3, 1)
      .matches('i', '^ab', { multiline: true, extended: true, dotMatchesAll: true })
      .contains('j', [1, 2]).containsAll('k', ['x']).notContainedIn('l', 'z').size('m', 2)
      .near('_geoloc', [1.5, 2.5], 10);
    q.limit = 20;
    q.skip = 10;
    q.fields = ['name', 'b'];
    q.ascending('name');
    q.descending('b');
    const j = new modules.Query();
    j.equalTo('last', 'Doe').or().equalTo('last', 'Roe');
    const k = new modules.Query();
    k.equalTo('x', 1).and().equalTo('y', 2).nor().equalTo('z', 3);
    const m = new modules.Query();
    m.equalTo('p', 1);
    const n = new modules.Query();
    n.equalTo('q', 2);
    m.or(n);
    m.and({ filter: { r: 3 } });
    const errors = [];
    for (const bad of [() => q.greaterThan('a', {}), () => q.matches('a', 'no-anchor'), () => q.matches('a', /^a/i),
      () => q.mod('a', 'x'), () => q.size('a', 'x'), () => { q.fields = 'x'; }, () => q.near('a', [1])]) {
      try { bad(); errors.push(null); } catch (e) { errors.push([e.message, e.debug]); }
    }
    complete().setBody({
      q: q.toQueryString(), j: j.toQueryString(), k: k.toQueryString(), m: m.toQueryString(), errors
    }).ok().done();
  });
  fns.register('queryGeo', (context, complete, modules) => {
    const q = new modules.Query();
    q.withinBox('_geoloc', [1, 2], [3, 4]).withinPolygon('loc', [[1, 2], [3, 4], [5, 6]]);
    complete().setBody(q.toQueryString()).ok().done();
  });
  fns.register('entity', (context, complete, modules) => {
    const ke = modules.kinveyEntity;
    const e = ke.entity({ name: 'x' });
    e._acl.addReader('r1').addReader('r1').addWriter('w1').addReaderGroup('g1').addWriterGroup('g2')
      .addReaderRole('ro1').addUpdateRole('ro2').addDeleteRole('ro3').removeReader('nobody')
      .setGloballyReadable(true).setGloballyWritable(false);
    e._acl.addReader('r2').removeReader('r2').addWriterGroup('g3').removeWriterGroup('g3')
      .addReaderGroup('g4').removeReaderGroup('g4').addWriter('w2').removeWriter('w2')
      .addReaderRole('ro9').removeReaderRole('ro9').addUpdateRole('ro8').removeUpdateRole('ro8')
      .addDeleteRole('ro7').removeDeleteRole('ro7');
    const plain = ke.entity('my-id');
    const bare = ke.entity();
    const acl = e._acl;
    complete().setBody({
      e, plain, bare,
      readers: acl.getReaders(), writers: acl.getWriters(), rg: acl.getReaderGroups(), wg: acl.getWriterGroups(),
      rr: acl.getReaderRoles(), ur: acl.getUpdateRoles(), dr: acl.getDeleteRoles(), creator: acl.getCreator(),
      gr: acl.getGloballyReadable(), gw: acl.getGloballyWritable(),
      plainGr: plain._acl.getGloballyReadable(), plainReaders: plain._acl.getReaders(),
      isEntity: ke.isKinveyEntity(e), isPlain: ke.isKinveyEntity({ a: 1 })
    }).ok().done();
  });
  fns.register('dates', (context, complete, modules) => {
    const d = modules.kinveyDate;
    complete().setBody({
      a: d.toKinveyDateString('2020-01-02T03:04:05.678Z'),
      b: d.fromKinveyDateString('ISODate("2020-01-02T03:04:05.678Z")', 'string'),
      c: d.fromKinveyDateString('nope'),
      d: d.toKinveyDateString('ISODate("x")'),
      e: d.toKinveyDateString(null),
      f: d.fromKinveyDateString('ISODate("2020-01-02T03:04:05.678Z")', 'bogus'),
      g: d.toKinveyDateString('not a date'),
      h: d.fromKinveyDateString('ISODate("")')
    }).ok().done();
  });
  fns.register('stores', (context, complete, modules) => {
    const things = modules.dataStore().collection('things');
    const q = new modules.Query();
    q.equalTo('color', 'blue');
    q.limit = 2;
    things.find(q, (e1, r1) => things.findById('t1', (e2, r2) => things.save({ name: 'n' }, (e3, r3) =>
      things.save({ _id: 't2', name: 'm' }, (e4, r4) => things.removeById('t3', (e5, r5) =>
        things.remove(q, (e6, r6) => things.count(null, (e7, r7) => things.count(q, (e8, r8) =>
          things.find((e9, r9) => things.save([{ a: 1 }, { a: 2 }], (e10, r10) => complete().setBody({
            r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
          }).ok().done()))))))))));
  });
  fns.register('userCalls', (context, complete, modules) => {
    const users = modules.userStore();
    const q = new modules.Query();
    q.equalTo('firstName', 'Ann');
    users.find(q, (e1, r1) => users.findById('u1', (e2, r2) => users.create({ username: 'new' }, (e3, r3) =>
      users.update({ _id: 'u1', x: 1 }, (e4, r4) => users.remove('u2', (e5) => users.suspend('u3', (e6) =>
        users.restore('u3', (e7) => users.count(q, (e8, r8) =>
          modules.userStore({ useUserContext: true, useBl: true }).findById('u4', (e9, r9) =>
            users.assignRole('u1', 'role1', (e10) => users.revokeRole('u1', 'role1', (e11) =>
              users.listRoles('u1', (e12, r12) => users.update({ x: 1 }, (e13) => complete().setBody({
                r1, r2, r3, r4, r8, r9, r12, errors: [e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12].map(errorInfo),
                e13: errorInfo(e13)
              }).ok().done())))))))))))));
  });
  fns.register('groupCalls', (context, complete, modules) => {
    const groups = modules.groupStore();
    groups.create({ _id: 'g1', users: { all: false, list: [] } }, (e1, r1) => groups.update({ _id: 'g1', x: 1 }, (e2, r2) =>
      groups.findById('g1', (e3, r3) => groups.remove('g1', (e4, r4) =>
        modules.groupStore({ useUserContext: true }).findById('g2', (e5, r5) => groups.findById(null, (e6) =>
          complete().setBody({ r1, r2, r3, r4, r5, e6: errorInfo(e6) }).ok().done()))))));
  });
  fns.register('pushEmail', (context, complete, modules) => {
    const push = modules.push;
    push.sendMessage({ _id: 'u1' }, 'hi', (e1, r1) => push.broadcastMessage('all', (e2, r2) =>
      push.sendPayload([{ _id: 'u1' }], { alert: 'a' }, { x: 1 }, { m: 1 }, (e3, r3) =>
        push.broadcastPayload({ alert: 'b' }, null, { m: 2 }, (e4, r4) =>
          modules.email.send('a@x.test', 'b@x.test', 'subj', 'text', (e5, r5) =>
            modules.email.send('a@x.test', 'b@x.test', 'subj', 'text', 'r@x.test', '<b>hi</b>', 'c@x.test', 'd@x.test', (e6, r6) =>
              modules.email.send('a@x.test', null, 'subj', 'text', (e7) => complete().setBody({
                r1, r2, r3, r4, r5, r6, e7: errorInfo(e7)
              }).ok().done())))))));
  });
  fns.register('endpoint', (context, complete, modules) => {
    modules.endpointRunner().endpoint('other').execute({ a: 1 }, (e1, r1) =>
      modules.endpointRunner().endpoint(context.objectName).execute({}, (e2) =>
        complete().setBody({ r1, e2: errorInfo(e2) }).ok().done()));
  });
  fns.register('circular', (context, complete, modules) => {
    modules.dataStore({ useUserContext: true }).collection(context.objectName).find((e1) =>
      modules.dataStore({ useBl: true }).collection(context.objectName).findById('x', (e2) =>
        modules.dataStore().collection(context.objectName).findById('x', (e3, r3) =>
          complete().setBody({ e1: errorInfo(e1), e2: errorInfo(e2), e3: errorInfo(e3), r3 }).ok().done())));
  });
  fns.register('circularUser', (context, complete, modules) => {
    modules.userStore({ useBl: true }).findById('x', (e1) =>
      modules.groupStore({ useUserContext: true }).findById('x', (e2) =>
        complete().setBody({ e1: errorInfo(e1), e2: errorInfo(e2) }).ok().done()));
  });
  fns.register('backendError', (context, complete, modules) => {
    modules.dataStore().collection('things').findById('missing', (err, result) =>
      complete().setBody({ err: errorInfo(err), result: result || null }).ok().done());
  });
  fns.register('storeOptions', (context, complete, modules) => {
    modules.dataStore({ useBl: true, useUserContext: true }).collection('other').findById('x', () =>
      modules.dataStore({ apiVersion: 5 }).collection('other').findById('y', () =>
        complete().ok().done()));
  });

  // -- FlexAuth ---------------------------------------------------------------------------
  flex.auth.register('fixedAuth', (context, complete) => complete()
    .setToken({ access_token: `tok-${context.body.username}`, issuer: 'fixedAuth' })
    .addAttribute('email', `${context.body.username}@example.test`)
    .addAttribute('tmp', 1).removeAttribute('tmp').ok().next());
  flex.auth.register('modes', (context, complete) => {
    const mode = context.body.options.mode;
    if (mode === 'deny') return complete().accessDenied('bad password').next();
    if (mode === 'server') return complete().serverError('db down').done();
    if (mode === 'unavailable') return complete('later').temporarilyUnavailable().done();
    if (mode === 'bare') return complete().accessDenied().done();
    if (mode === 'notimpl') return complete().notImplemented().done();
    if (mode === 'nook') return complete().setToken('abc').next();
    return complete({ t: 1 }).ok().done();
  });
  flex.auth.register('echoAuth', (context, complete) => complete().setToken({ context }).ok().done());
});

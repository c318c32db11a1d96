// Drives kinbase's Files API with the official kinvey-node-sdk 3.12.5 (API version 4): upload (the
// resumable protocol of the _uploadURL), download, stream, find with a query, removeById.
// Env: KINBASE_URL, APP_KEY, APP_SECRET. Prints one JSON line per check; exit 1 on failure.
'use strict';
const Kinvey = require('kinvey-node-sdk');
const crypto = require('crypto');

const { KINBASE_URL, APP_KEY, APP_SECRET } = process.env;
function check(name, ok, detail) {
  console.log(JSON.stringify({ name, ok: !!ok, detail }));
  if (!ok) { throw new Error(`check failed: ${name} ${JSON.stringify(detail)}`); }
}

async function main() {
  Kinvey.init({ appKey: APP_KEY, appSecret: APP_SECRET, apiHostname: KINBASE_URL, micHostname: KINBASE_URL });
  const suffix = Date.now().toString(36);
  await Kinvey.User.signup({ username: `filer-${suffix}`, password: 'pw-f' });

  // Text: the SDK's downloadByUrl hands back the body decoded as UTF-8 (binary would not survive it).
  const bytes = Buffer.from(crypto.randomBytes(150 * 1024).toString('hex'));
  const name = `photo-${suffix}.bin`;
  const uploaded = await Kinvey.Files.upload(bytes, { filename: name, mimeType: 'application/octet-stream', size: bytes.length, album: 'trip' });
  check('upload', uploaded._id && uploaded._filename === name && uploaded.album === 'trip', { _id: uploaded._id, _filename: uploaded._filename });

  const streamed = await Kinvey.Files.stream(uploaded._id, { ttl: 120 });
  check('stream (metadata with a download URL)', streamed.size === bytes.length && streamed._downloadURL.includes('/_download?token='), streamed);

  const downloaded = await Kinvey.Files.download(uploaded._id);
  const body = Buffer.isBuffer(downloaded) ? downloaded : Buffer.from(downloaded);
  check('download', body.length === bytes.length && body.equals(bytes), { length: body.length });

  const found = await Kinvey.Files.find(new Kinvey.Query().equalTo('album', 'trip'));
  check('find with a query', found.length === 1 && found[0]._id === uploaded._id && found[0]._downloadURL, found.map((f) => f._id));
  const none = await Kinvey.Files.find(new Kinvey.Query().equalTo('album', 'elsewhere'));
  check('find nothing', none.length === 0, none);

  // Replace the bytes of the same file (PUT /blob/:k/:id with the _id), then read the new ones.
  const second = Buffer.from(crypto.randomBytes(500).toString('hex'));
  await Kinvey.Files.upload(second, { _id: uploaded._id, filename: name, mimeType: 'text/plain', size: second.length });
  const again = await Kinvey.Files.download(uploaded._id);
  const againBody = Buffer.isBuffer(again) ? again : Buffer.from(again);
  check('replace and download', againBody.equals(second), { length: againBody.length });

  const removed = await Kinvey.Files.removeById(uploaded._id);
  check('removeById', removed.count === 1, removed);
  let missing = null;
  try { await Kinvey.Files.stream(uploaded._id); } catch (error) { missing = error; }
  check('gone after remove', missing && missing.name === 'NotFoundError', missing && { name: missing.name, message: missing.message });

  await Kinvey.User.logout();
  check('done', true);
}

main().then(
  () => process.exit(0),
  (err) => { console.log(JSON.stringify({ name: 'error', ok: false, detail: String(err && err.stack || err) })); process.exit(1); },
);

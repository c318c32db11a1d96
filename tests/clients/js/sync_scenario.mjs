// Two kinto.js clients of one user sync through a kinbase server, converge, and resolve a conflict.
// usage: node sync_scenario.mjs BASE_URL USER PASSWORD   (prints "OK" and exits 0 on success)
import assert from "node:assert/strict";
import kinto from "kinto";
import memory from "kinto/lib/cjs/adapters/memory.js";

const Kinto = kinto.default ?? kinto;
const Memory = memory.default ?? memory;
const [remote, user, password] = process.argv.slice(2);
const headers = { Authorization: "Basic " + Buffer.from(`${user}:${password}`).toString("base64") };

function client() {
  const db = new Kinto({ remote, headers, bucket: "default", adapter: () => new Memory() });
  return db.collection("tasks");
}

async function sync(collection, strategy) {
  const result = await collection.sync(strategy ? { strategy } : {});
  return result;
}

async function ids(collection) {
  const { data } = await collection.list({ order: "id" });
  return data.map((r) => `${r.id}:${r.title}`).sort();
}

const a = client();
const b = client();

// A creates records and pushes them; B pulls them.
const { data: first } = await a.create({ title: "buy milk" });
const { data: second } = await a.create({ title: "walk dog" });
let result = await sync(a);
assert.equal(result.ok, true, JSON.stringify(result));
assert.equal(result.published.length, 2);
result = await sync(b);
assert.equal(result.ok, true);
assert.equal(result.created.length, 2);
assert.deepEqual(await ids(a), await ids(b));

// B creates, A deletes: both propagate (the deletion as a tombstone through _since).
await b.create({ title: "call mom" });
await a.delete(second.id);
assert.equal((await sync(a)).ok, true);
result = await sync(b);
assert.equal(result.ok, true, JSON.stringify(result));
assert.equal(result.deleted.length, 1);
assert.equal((await sync(a)).ok, true);
assert.deepEqual(await ids(a), await ids(b));
assert.equal((await ids(a)).length, 2);

// Both edit the same record: A wins the race, B gets a conflict and resolves it.
await a.update({ ...(await a.get(first.id)).data, title: "buy oat milk" });
await b.update({ ...(await b.get(first.id)).data, title: "buy almond milk" });
assert.equal((await sync(a)).ok, true);
result = await sync(b, Kinto.syncStrategy.MANUAL);
assert.equal(result.ok, false);
assert.equal(result.conflicts.length, 1);
const conflict = result.conflicts[0];
assert.equal(conflict.remote.title, "buy oat milk");
assert.equal(conflict.local.title, "buy almond milk");
await b.resolve(conflict, { ...conflict.local, title: "buy oat and almond milk" });
assert.equal((await sync(b)).ok, true);
assert.equal((await sync(a)).ok, true);
assert.deepEqual(await ids(a), await ids(b));
assert.equal((await a.get(first.id)).data.title, "buy oat and almond milk");

// The server agrees with both clients.
const server = new Kinto({ remote, headers, bucket: "default" }).api;
const records = await server.bucket("default").collection("tasks").listRecords();
assert.deepEqual(records.data.map((r) => `${r.id}:${r.title}`).sort(), await ids(a));
console.log("OK");

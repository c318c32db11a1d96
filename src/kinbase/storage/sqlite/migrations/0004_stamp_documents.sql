-- The change-stamp index holds each object's JSON text (json(data), computed at every write): a
-- read in stamp order (Kinto's default -last_modified, _since syncs, delta sets) walks it and
-- reads nothing from the table when it renders the stored texts and tombstones (deleted, id,
-- stamp) and checks the creator: the _since page of 1,000 changes 0.30 -> 0.16 ms of SQLite
-- (docs/performance.md). The cost: a second copy of every document, in the index.
DROP INDEX objects_parent_stamp;
CREATE INDEX objects_parent_stamp_doc ON objects (parent_id, stamp, oid, deleted, creator, id, json(data));

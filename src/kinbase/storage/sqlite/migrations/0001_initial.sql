-- kinbase schema, SQLite. See docs/storage.md for the model.

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- An app is a tenant: it owns its parents, and through them every object.
CREATE TABLE apps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app_key       TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    app_secret    TEXT    NOT NULL,
    master_secret TEXT    NOT NULL,
    settings      TEXT    NOT NULL DEFAULT '{}',
    version       INTEGER NOT NULL DEFAULT 1,
    created       INTEGER NOT NULL
);

-- A parent holds objects: a Kinvey collection, the users of an app, a Kinto bucket's collections...
-- `stamp` is the parent's change stamp (ms), strictly increasing, bumped inside every write;
-- `live` counts its live objects.
CREATE TABLE parents (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id   INTEGER NOT NULL REFERENCES apps (id),
    kind     TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    live     INTEGER NOT NULL DEFAULT 0,
    settings TEXT    NOT NULL DEFAULT '{}',
    version  INTEGER NOT NULL DEFAULT 1,
    created  INTEGER NOT NULL,
    UNIQUE (app_id, kind, name)
);

-- Objects and their tombstones (deleted = 1, data = '{}').
CREATE TABLE objects (
    oid       INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    id        TEXT    NOT NULL,
    stamp     INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    creator   TEXT,
    deleted   INTEGER NOT NULL DEFAULT 0,
    data      TEXT    NOT NULL,
    UNIQUE (parent_id, id)
);
CREATE INDEX objects_parent_stamp ON objects (parent_id, stamp);
CREATE INDEX objects_parent ON objects (parent_id);

-- Who may do what on an object: one row per (permission, principal).
CREATE TABLE grants (
    oid       INTEGER NOT NULL,
    perm      TEXT    NOT NULL,
    principal TEXT    NOT NULL,
    PRIMARY KEY (oid, perm, principal)
) WITHOUT ROWID;
CREATE INDEX grants_principal ON grants (principal, perm, oid);

-- Field indexes: the candidate values of each indexed path of each live object.
-- t = type rank (see kinbase.query.sql.index), n = numeric value, s = string value.
CREATE TABLE field_values (
    parent_id INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    n         REAL    NOT NULL DEFAULT 0,
    s         TEXT    NOT NULL DEFAULT '',
    oid       INTEGER NOT NULL,
    PRIMARY KEY (parent_id, slot, t, n, s, oid)
) WITHOUT ROWID;

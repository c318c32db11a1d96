-- Compound field indexes: g = a digest of one combination of the values of the index's leading
-- fields (see kinbase.query.sql.index.compound_entries), then the last field's value as in
-- field_values. Equality on the leading fields and an order on the last one is one index walk.
CREATE TABLE compound_values (
    parent_id INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    g         TEXT    NOT NULL,
    t         INTEGER NOT NULL,
    n         REAL    NOT NULL DEFAULT 0,
    s         TEXT    NOT NULL DEFAULT '',
    oid       INTEGER NOT NULL,
    PRIMARY KEY (parent_id, slot, g, t, n, s, oid)
) WITHOUT ROWID;

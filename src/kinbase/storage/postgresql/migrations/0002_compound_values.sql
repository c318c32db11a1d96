-- Compound field indexes: g = a digest of one combination of the values of the index's leading
-- fields (see kinbase.query.sql.index.compound_entries), then the last field's value as in
-- field_values. Equality on the leading fields and an order on the last one is one index walk.
CREATE TABLE compound_values (
    parent_id bigint           NOT NULL,
    slot      integer          NOT NULL,
    g         text COLLATE "C" NOT NULL,
    t         smallint         NOT NULL,
    n         double precision NOT NULL DEFAULT 0,
    s         text COLLATE "C" NOT NULL DEFAULT '',
    oid       bigint           NOT NULL,
    PRIMARY KEY (parent_id, slot, g, t, n, s, oid)
);

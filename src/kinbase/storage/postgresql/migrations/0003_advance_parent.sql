-- The locked part of an optimistic put (kinbase.storage.sql.objects, Writer.optimistic): the
-- writer predicted the stamp from the parent it read and built its object with it; this locks the
-- parent, checks that nothing moved it meanwhile (its version, its stamp below the prediction)
-- and saves the stamp. It travels with the insert and the COMMIT, so the lock is held for no
-- round trip to the client. A failed check raises SQLSTATE KB409: the transaction rolls back and
-- the writer runs again, locking first.
CREATE FUNCTION kinbase_advance_parent(p_id bigint, p_version bigint, p_stamp bigint, p_live bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parents SET stamp = p_stamp, live = live + p_live
     WHERE id = p_id AND version = p_version AND stamp < p_stamp AND kind <> 'kinbase.dropped';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the parent moved on since it was read' USING ERRCODE = 'KB409';
    END IF;
END
$$;

-- Documents and settings as JSONB (SQLite >= 3.45, kinbase.storage.sqlite.driver): a field of a
-- JSONB document is read without parsing the whole text, which a list that is not an index walk
-- does for every row. Rows are read back with json() and written with jsonb(); a row still in
-- text (this migration converts them all) reads the same.
UPDATE objects SET data = jsonb(data) WHERE typeof(data) = 'text';
UPDATE apps SET settings = jsonb(settings) WHERE typeof(settings) = 'text';
UPDATE parents SET settings = jsonb(settings) WHERE typeof(settings) = 'text';

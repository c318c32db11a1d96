-- The planner's estimate of one field index's rows. A walk of an index reads
-- "parent_id = ? AND slot = ?": each slot belongs to one collection, but PostgreSQL multiplies the
-- two columns' frequencies as if they were independent. Once a collection's index was dropped
-- and declared again (a new slot that no other collection has), that underestimated its rows by
-- the number of collections with indexes (10x in the benchmark: 240 estimated, 2,497 read), and
-- a filter + sort + limit 50 sorted the whole range (9 ms) instead of walking it in order and
-- stopping after 50 rows (0.8 ms). Statistics of the pair (its most common values and the
-- dependency between the columns), filled by every ANALYZE, give the walk its real size.
CREATE STATISTICS field_values_index (mcv, dependencies) ON parent_id, slot FROM field_values;
CREATE STATISTICS compound_values_index (mcv, dependencies) ON parent_id, slot FROM compound_values;

-- The token purge reads the links issued before its cut-off (an hour ago)
-- through their own index rather than the whole of `link_tokens_by_account`
-- (found by `cargo xtask bench scale`, see docs/PERFORMANCE.md). SQLite's
-- migration of the same name also gives it the session indexes PostgreSQL
-- got in `20261206000016_purge_indexes`.
CREATE INDEX link_tokens_by_issued ON link_tokens (issued_at);

-- The last two purge statements that read a whole table on SQLite (found
-- by `cargo xtask bench scale`, see docs/PERFORMANCE.md): the session purge
-- now deletes idle and over-age sessions in two statements, each a range
-- over its own index (the planner reads the table for one `OR` of the
-- two), and the token purge reads the links issued before its cut-off
-- through `link_tokens_by_issued` instead of every link.
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
CREATE INDEX link_tokens_by_issued ON link_tokens (issued_at);

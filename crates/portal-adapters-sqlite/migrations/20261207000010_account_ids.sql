-- The highest account id ever given out. SQLite's rowid takes max(id) + 1,
-- so the id of a deleted newest account (a replaced or purged pending one)
-- would be given to the next: `sql::NEXT_ID` counts past this instead.
CREATE TABLE account_ids (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    last_id  INTEGER NOT NULL
);
INSERT INTO account_ids (only_row, last_id) SELECT 1, coalesce(max(id), 0) FROM accounts;

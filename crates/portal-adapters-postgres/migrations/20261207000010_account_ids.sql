-- SQLite's migration of this name keeps the highest account id ever given
-- out; PostgreSQL's sequence never gives an id out twice. Nothing to do here
-- but keep the two migration lists alike.
SELECT 1;

-- Shared end of the files that started with include/fresh_database.sql.
\c :orig_db
SET client_min_messages = warning;
DROP DATABASE :test_db;
RESET client_min_messages;

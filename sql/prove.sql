-- The proof that a DATABASE_URL works: run as the app user, through the exact URL.

-- name: whoami
SELECT CURRENT_USER() AS current_user_, DATABASE() AS database_,
       @@character_set_database AS charset, @@collation_database AS collation;

-- name: create_scratch
CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(16)) DEFAULT CHARSET = utf8mb4;

-- name: drop_scratch
DROP TABLE IF EXISTS {table};

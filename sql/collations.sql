-- The server's utf8mb4 collations (provision/collations.py picks one).
-- SELECT *: MariaDB 10.10+ adds FULL_COLLATION_NAME (utf8mb4_uca1400_ai_ci for uca1400_ai_ci).

-- name: utf8mb4_collations
SELECT * FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE CHARACTER_SET_NAME = 'utf8mb4';

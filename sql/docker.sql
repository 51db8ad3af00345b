-- The docker backend's own statements, run as the container's root.

-- name: hostname
-- inside a container this is its hostname (the container ID's first 12 characters)
SELECT @@hostname AS hostname;

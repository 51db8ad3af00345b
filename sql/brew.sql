-- The brew backend logs in over Homebrew's socket; the app connects over TCP. This
-- says which port the server behind the socket really listens on.

-- name: listening
SELECT @@port AS port, @@socket AS socket;

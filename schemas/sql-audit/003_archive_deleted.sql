-- Retention: an archive file deleted after audit_retention_days keeps its
-- row, so the next file's link to it (its manifest hash) still checks and
-- the deletion itself is on record.
ALTER TABLE audit_archives ADD COLUMN deleted_ms INTEGER;

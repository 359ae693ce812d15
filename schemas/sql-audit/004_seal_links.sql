-- Seals in a chain of their own (docs/audit.md "Seals"): each signs the
-- digest of the seal before it, so a deleted or replaced seal breaks the
-- next one's link.  NULL for the seals made before this migration, which
-- sign only the chain head; every seal is also a line of
-- archive/checkpoints.log, outside this database.
ALTER TABLE audit_seals ADD COLUMN prev_digest BLOB;

-- Registration workflows (Form 02 requests, notices).
-- Who decided a request (Art. 10.2: the provider approves or rejects): the
-- name given with --by, else $LGSP_OPERATOR, else the OS user.
ALTER TABLE requests ADD COLUMN decided_by TEXT;
-- Form 02 scope ("phạm vi sử dụng"), besides the purpose.
ALTER TABLE requests ADD COLUMN scope TEXT;
-- Notices: who announced one, and the lifecycle change that made it.
ALTER TABLE notices ADD COLUMN created_by TEXT;
CREATE INDEX notices_window ON notices(end_at, start_at);
CREATE INDEX requests_open ON requests(state, created_at);

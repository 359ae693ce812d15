-- Where a system's URLs may point (docs/operator-guide.md, "Where provider
-- URLs may point"): 1 when an operator allowed its upstream and health URLs
-- to reach link-local, metadata or unspecified addresses (lgspctl
-- --allow-link-local, recorded in the change log).  lgspctl refuses such a
-- URL otherwise, and lgspd will not connect there (health checks) nor
-- publish such an upstream address (the snapshot).
ALTER TABLE systems ADD COLUMN allow_link_local INTEGER NOT NULL DEFAULT 0;

-- Updates apt holds back because the package is held on the host (apt-mark hold): still pending,
-- counted and classified, shown as held.
ALTER TABLE pending_updates ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

-- A db user the review recommends revoking: (target, db_user, reason).
INSERT INTO report_revoke_users VALUES (?, ?, ?)

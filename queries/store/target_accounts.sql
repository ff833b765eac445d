-- Each target's account.
SELECT name, account_id FROM targets

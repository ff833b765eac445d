-- The trust policy (ExternalId values already redacted) and RoleLastUsed of one role.
INSERT INTO role_trust (
    role_arn, account_id, trust_policy, trusted_principals, last_used_at, last_used_region,
    first_observed, observed_at
) VALUES (
    :role_arn, :account_id, :trust_policy, :trusted_principals, :last_used_at, :last_used_region,
    :observed_at, :observed_at
)
ON CONFLICT (role_arn) DO UPDATE SET
    trust_policy = excluded.trust_policy,
    trusted_principals = excluded.trusted_principals,
    last_used_at = coalesce(excluded.last_used_at, role_trust.last_used_at),
    last_used_region = coalesce(excluded.last_used_region, role_trust.last_used_region),
    observed_at = excluded.observed_at

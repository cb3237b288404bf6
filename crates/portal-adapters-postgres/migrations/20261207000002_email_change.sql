-- Email change links (SPEC §4a): a purpose of link_tokens, so that they are
-- single use, superseded by a newer one, counted toward the per-account
-- email cap and purged like every other link. The address a link sets
-- waits with it, and only an email change link holds one.
ALTER TABLE link_tokens ADD COLUMN new_email text;
ALTER TABLE link_tokens DROP CONSTRAINT link_tokens_purpose_check;
ALTER TABLE link_tokens ADD CONSTRAINT link_tokens_purpose_check
    CHECK (purpose IN ('activation', 'password_reset', 'email_change'));
ALTER TABLE link_tokens ADD CONSTRAINT link_tokens_new_email_with_change
    CHECK ((purpose = 'email_change') = (new_email IS NOT NULL));

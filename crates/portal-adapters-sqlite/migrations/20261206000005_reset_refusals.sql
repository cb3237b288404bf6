-- Password-policy refusals of a reset link's confirmations (SPEC §6): a
-- refusal spends nothing until the tenth, which spends the link.
ALTER TABLE link_tokens ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0);

-- Tokens may expire: a presented token is refused once expires_at has
-- passed, as it is once revoked_at is set (0001).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
-- Removing a client revokes its tokens.
CREATE INDEX api_tokens_client ON api_tokens (client_id) WHERE client_id IS NOT NULL;

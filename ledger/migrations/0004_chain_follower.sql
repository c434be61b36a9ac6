-- The chain follower's durable state (issue 13: reorganisations and poison events).
--
-- follower_cursor: where each follower stands, with the hash of the block it stands on (the
-- newest block whose logs it delivered), so a changed hash there reveals a reorganisation.
-- follower_blocks: the hashes of recent blocks it delivered from, to find the fork point.
-- dead_letters: events the sink refused for good after bounded attempts, and logs that do not
-- decode, with the reason; the follower moved past them, an operator can replay them.
CREATE TABLE follower_cursor (
    name text PRIMARY KEY,
    block_number bigint NOT NULL CHECK (block_number >= 0),
    log_index bigint NOT NULL CHECK (log_index >= 0),
    block_hash text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE follower_blocks (
    name text NOT NULL,
    block_number bigint NOT NULL CHECK (block_number >= 0),
    block_hash text NOT NULL,
    PRIMARY KEY (name, block_number)
);

CREATE TABLE dead_letters (
    name text NOT NULL,
    event_key text NOT NULL,
    block_number bigint NOT NULL,
    log_index bigint NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL CHECK (attempts >= 0),
    event jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, event_key)
);

-- Followers before this migration kept their cursor in public.chain_cursor (no block hash):
-- carry it over, so an upgraded follower resumes where it stood.
DO $$
BEGIN
    IF to_regclass('public.chain_cursor') IS NOT NULL THEN
        INSERT INTO follower_cursor (name, block_number, log_index)
        SELECT name, block_number, log_index FROM public.chain_cursor
        ON CONFLICT (name) DO NOTHING;
    END IF;
END
$$;

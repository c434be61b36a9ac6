-- Availabilities, reservations, released batches and the store quota (RES-*, ARCHITECTURE §4).
-- Amounts are numeric with range CHECKs: bigint cannot hold uint64 max.

CREATE DOMAIN uint64 AS numeric(20, 0)
    CHECK (VALUE >= 0 AND VALUE <= 18446744073709551615);
CREATE DOMAIN uint256 AS numeric(78, 0)
    CHECK (VALUE >= 0
           AND VALUE <= 115792089237316195423570985008687907853269984665640564039457584007913129639935);
CREATE DOMAIN hex32 AS text CHECK (VALUE ~ '^0x[0-9a-f]{64}$');
CREATE DOMAIN unix_seconds AS bigint CHECK (VALUE >= 0);

-- RES-5/RES-10: bytes of the host store promised to availabilities (Σ total_size).
-- The quota itself is process configuration; this row is what concurrent creators lock.
CREATE TABLE store_quota (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    reserved_bytes uint64 NOT NULL DEFAULT 0
);
INSERT INTO store_quota DEFAULT VALUES;

CREATE TABLE availabilities (
    id hex32 PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order: RES-16 iterates by it
    total_size uint64 NOT NULL,
    free_size uint64 NOT NULL,
    held_size uint64 NOT NULL DEFAULT 0,             -- Σ size of live reservations
    committed_size uint64 NOT NULL DEFAULT 0,        -- written (released) and not returned
    duration uint64 NOT NULL,
    min_price_per_byte_per_second uint256 NOT NULL,
    total_collateral uint256 NOT NULL,
    total_remaining_collateral uint256 NOT NULL,
    locked_collateral uint256 NOT NULL DEFAULT 0,    -- Σ collateral of live reservations
    lost_collateral uint256 NOT NULL DEFAULT 0,      -- deducted, deleted, not returned
    gained_collateral uint256 NOT NULL DEFAULT 0,    -- returned beyond the deduction
    enabled boolean NOT NULL,
    until unix_seconds NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT free_within_total CHECK (free_size <= total_size),
    CONSTRAINT bytes_equation CHECK (total_size = free_size + held_size + committed_size),
    CONSTRAINT collateral_equation CHECK (
        total_remaining_collateral
        = total_collateral - locked_collateral - lost_collateral + gained_collateral)
);

CREATE TABLE reservations (
    id hex32 PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order for listings
    availability_id hex32 NOT NULL REFERENCES availabilities (id),
    request_id hex32 NOT NULL,
    slot_index uint64 NOT NULL,
    slot_size uint64 NOT NULL CHECK (slot_size > 0),
    size uint64 NOT NULL,                            -- still held, not yet written
    released uint64 NOT NULL DEFAULT 0,              -- written per batch (RES-19)
    returned uint64 NOT NULL DEFAULT 0,              -- written bytes given back (RES-20)
    collateral_per_byte uint256 NOT NULL,
    collateral uint256 NOT NULL,                     -- deducted: slot_size * collateral_per_byte
    valid_until unix_seconds NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT one_reservation_per_slot UNIQUE (request_id, slot_index),
    CONSTRAINT size_accounted CHECK (slot_size = size + released),
    CONSTRAINT returned_within_released CHECK (returned <= released)
);
CREATE INDEX reservations_by_availability ON reservations (availability_id);

-- RES-19 idempotency: a batch counts once per reservation.
CREATE TABLE released_batches (
    reservation_id hex32 NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    batch_seq bigint NOT NULL CHECK (batch_seq >= 0),
    nbytes uint64 NOT NULL,
    PRIMARY KEY (reservation_id, batch_seq)
);

-- The durable record of this host's fill (ARCHITECTURE §8: the fill is the point of no return).
-- Written before the fillSlot transaction is broadcast ('sent') and after its outcome is known
-- ('landed' or 'refused'), so cleanup and reconciliation can tell a deposit of unknown fate
-- from one that never happened. It only moves forward (enforced by the ledger code).
ALTER TABLE reservations
    ADD COLUMN fill text NOT NULL DEFAULT 'not_sent'
        CHECK (fill IN ('not_sent', 'sent', 'landed', 'refused'));

package dev.meterd.ledger;

import java.time.Instant;

/**
 * A wallet below its auto top-up threshold, with the state of its request.
 *
 * @param requestedAt when the open request was made, or null when none is open yet (the
 *     threshold was raised above the balance, and no write has moved the balance since)
 */
public record TopupDue(String userSid, long balanceCents, long thresholdCents, long amountCents,
    Instant requestedAt) {}

package dev.meterd.ledger;

/**
 * A broken ledger invariant found by {@code verify}.
 *
 * @param rule which invariant, as a stable identifier
 * @param message what was found, naming the rows
 */
public record Violation(String rule, String message) {}

package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import java.time.Instant;

/** A change of a wallet's policy as it was recorded: when, by whom, from what, to what. */
public record SettingsChange(Instant changedAt, String initiatedBy, WalletSettings before, WalletSettings after) {}

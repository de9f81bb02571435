package dev.meterd.ledger;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The hash chain over ledger rows: each row's hash covers its own fields and the previous row's
 * hash, so changing, inserting or removing any row breaks every hash after it.
 */
final class TxnHash {

  static final String GENESIS = "0".repeat(64);

  private TxnHash() {}

  private static final MessageDigest PROTOTYPE;

  static {
    try {
      PROTOTYPE = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  static String of(String previousHash, SqliteWalletRows.Txn t) {
    MessageDigest sha;
    try {
      sha = (MessageDigest) PROTOTYPE.clone();
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException("SHA-256 digests of this runtime cannot be cloned", e);
    }
    field(sha, previousHash);
    field(sha, Long.toString(t.txnId()));
    field(sha, Long.toString(t.walletId()));
    field(sha, t.type().sqlName());
    field(sha, Long.toString(t.amountCents()));
    field(sha, t.occurredAt());
    field(sha, t.initiatedBy());
    field(sha, t.sourceNodeId() == null ? null : Long.toString(t.sourceNodeId()));
    field(sha, t.sourceCommit());
    field(sha, t.sourceRecords() == null ? null : Integer.toString(t.sourceRecords()));
    field(sha, t.note());
    return HexFormat.of().formatHex(sha.digest());
  }

  /** Length-prefixed, so that no two different rows hash the same bytes. */
  private static void field(MessageDigest sha, String value) {
    if (value == null) {
      sha.update((byte) 0);
      return;
    }
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    sha.update((byte) 1);
    sha.update(Integer.toString(bytes.length).getBytes(StandardCharsets.US_ASCII));
    sha.update((byte) ':');
    sha.update(bytes);
  }
}

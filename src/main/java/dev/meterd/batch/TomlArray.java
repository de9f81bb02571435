package dev.meterd.batch;

import java.util.ArrayList;

/** A TOML array; {@code ofTables} marks one built by {@code [[header]]}s, which may grow. */
final class TomlArray extends ArrayList<Object> {

  final boolean ofTables;

  TomlArray(boolean ofTables) {
    super(ofTables ? 4 : 8);
    this.ofTables = ofTables;
  }
}

package dev.meterd.batch;

/**
 * A batch file that breaks the wire format: not TOML, a wrong type, a value out of range, a
 * conflicting record, a file over the size limit. It halts the node until its folder changes or
 * an operator resumes it.
 */
public final class BatchContentException extends Exception {

  private final String path;
  private final int line;
  private final String error;

  /**
   * @param path the file's path in the repository
   * @param line the 1-based line, or 0 when no line applies
   * @param error what is wrong, as one sentence
   */
  public BatchContentException(String path, int line, String error) {
    super(path + (line > 0 ? ":" + line : "") + ": " + error, null, false, false);
    this.path = path;
    this.line = line;
    this.error = error;
  }

  public String path() {
    return path;
  }

  /** The 1-based line, or 0 when no line applies. */
  public int line() {
    return line;
  }

  public String error() {
    return error;
  }
}

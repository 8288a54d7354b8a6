/** The slice of pino the domain uses: fixed messages plus a metadata object. */
export interface Logger {
  info(meta: object, message: string): void;
  warn(meta: object, message: string): void;
  error(meta: object, message: string): void;
  debug(meta: object, message: string): void;
  child(bindings: object): Logger;
}
